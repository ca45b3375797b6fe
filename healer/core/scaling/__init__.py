"""Autoscaling decisions that are new with the behaviour, several-metric and scale-to-zero
settings: pure, no I/O."""
