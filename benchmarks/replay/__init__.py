"""Replay traces of the autoscaler's newer sources (see sources.py)."""
