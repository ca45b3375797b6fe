"""Edges of the healer: Docker, Redis and Celery. Pure code never imports from here."""
