"""The Docker side: the engine client, cgroup and stats sampling, recreate, scale, cleanup."""
