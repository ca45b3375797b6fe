"""A guarded repair, and operator-requested ones: lock, re-read, gates, act, record."""
