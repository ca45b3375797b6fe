"""The Celery app. Settings are read here, at the worker's entry point, and nowhere deeper."""

from __future__ import annotations

from healer.adapters.queue import make_celery
from healer.settings import Settings

settings = Settings()
app = make_celery(settings)

# Imported for their side effect of registering the tasks (and the worker's host wiring).
from beat import schedule  # noqa: E402
from workers import boot_tasks, embedded, host_agent, scale_tasks, tasks  # noqa: E402, F401

schedule.install(app, settings)
embedded.install(app)
