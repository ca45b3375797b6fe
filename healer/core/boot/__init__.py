"""Ordered recovery after an engine restart, decided purely: detect, plan, report."""
