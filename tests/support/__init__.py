"""Helpers for integration and e2e tests; the fixtures using them live in tests/conftest.py."""

from .compose import (
    HEALTHY_COMMAND,
    PROJECT_LABEL,
    SERVICE_LABEL,
    TIMING_OUT_CHECK,
    ComposeCommandError,
    ComposeFactory,
    ComposeProject,
    compose_binary,
    compose_yaml,
    healthy_service_yaml,
    unique_project_name,
)
from .dockerd import PrivateEngine
from .events import EventRecorder, EventsFactory, FollowingEventRecorder, RecordedEvent
from .image import ensure_test_image, image_tag
from .services import SKIP_ENV, redis_test_url, skip_integration, unreachable_services
from .waiting import free_port, free_ports, wait_until

__all__ = [
    "HEALTHY_COMMAND",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "SKIP_ENV",
    "TIMING_OUT_CHECK",
    "ComposeCommandError",
    "ComposeFactory",
    "ComposeProject",
    "EventRecorder",
    "EventsFactory",
    "FollowingEventRecorder",
    "PrivateEngine",
    "RecordedEvent",
    "compose_binary",
    "compose_yaml",
    "ensure_test_image",
    "free_port",
    "free_ports",
    "healthy_service_yaml",
    "image_tag",
    "redis_test_url",
    "skip_integration",
    "unique_project_name",
    "unreachable_services",
    "wait_until",
]
