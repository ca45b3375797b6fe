"""The scheduling roles: Celery beat's schedule and the Docker events watcher."""
