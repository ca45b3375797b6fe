"""Redis through Sentinel: where the master is, and what the healer does when it moves."""
