"""The Celery worker role: `celery -A workers.app worker`."""
