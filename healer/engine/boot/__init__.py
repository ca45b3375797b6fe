"""Ordered recovery of a project after an engine restart, and the check that one happened."""
