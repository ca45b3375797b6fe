"""Repairs that keep a service available: replica by replica within a budget of unavailable
replicas, and start-first recreates (pure decisions; the engine side is engine/rollout)."""
