"""The API's Prometheus registry: the healer's series (read from Redis at scrape time),
`healer_build_info{version}`, and the API process's own `process_*` and `python_*` series."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from healer import __version__
from healer.engine.context import Healer


def build_registry(h: Healer) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(h.stores.collector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    Info("healer_build", "The healer's version", registry=registry).info({"version": __version__})
    return registry
