"""The pure core: what the healer decides, with no I/O (no Docker, Redis, Celery or web).

Every module here is a function of its arguments; an import-linter contract keeps it so.
"""
