"""Repair decisions, pure: conditions, actions, the restart policy's backoff, the storm brake
and the adaptive concurrency limit."""
