"""Everything a task needs, built once per process from Settings at an entry point."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from healer.adapters.docker.engine import DockerEngine
from healer.adapters.notify import Notifier
from healer.adapters.oplog import OpLog
from healer.adapters.overload.pressure import read_pressure
from healer.adapters.scaling.metrics import CollectorSource
from healer.adapters.store.history import setup_file_log
from healer.adapters.store.stores import Stores
from healer.core.model import Condition, ContainerId, HostId, RepairRequest, ServiceId, Source
from healer.core.overload.evidence import Pressure
from healer.core.reconcile import PolicyDefaults
from healer.core.resources import ResourceSample
from healer.engine.resources import ResourceMonitor
from healer.settings import Settings


class Dispatcher(Protocol):
    """Sends work to the queue; Celery in production, a list in unit tests."""

    def repair(self, request: RepairRequest, countdown: float = 0) -> str: ...

    def probe(self, sid: ServiceId, countdown: float = 0, host: HostId | None = None) -> None: ...

    def probe_all(self, host: HostId | None = None) -> None: ...

    def cleanup(self, source: Source, request_id: str, host: HostId | None = None) -> None: ...

    def scale(
        self,
        sid: ServiceId,
        replicas: int,
        source: Source,
        request_id: str,
        host: HostId | None = None,
        force: bool = False,
    ) -> str: ...


@dataclass
class Healer:
    settings: Settings
    stores: Stores
    engine: DockerEngine
    dispatcher: Dispatcher
    clock: Callable[[], float] = field(default=time.time)
    # Host CPU/IO pressure (PSI), evidence of overload for the storm brake.
    pressure: Callable[[], Pressure] = field(default=read_pressure)

    def __post_init__(self) -> None:
        st = self.stores
        # Every store is bound to this process's host (Settings.host): guard and observed
        # state of `web` on one host is never read or written by another host's worker.
        self.host: HostId = st.host
        self.hosts = st.hosts
        self.state, self.history, self.counters = st.state, st.history, st.counters
        self.flags, self.requests, self.guard = st.flags, st.requests, st.guard
        self.telemetry = st.telemetry
        self.notifier = Notifier.from_settings(self.settings)
        self.oplog = OpLog(self.settings.oplog, self.settings.host)
        self._resources: ResourceMonitor | None = None
        self._scale_metrics: CollectorSource | None = None

    @property
    def resources(self) -> ResourceMonitor:
        # Built on first use: only the reconcile probe samples resources.
        if self._resources is None:
            self._resources = ResourceMonitor(self.settings, self.engine.client, self.stores)
        return self._resources

    @property
    def scale_metrics(self) -> CollectorSource:
        """The scaler's CPU/memory source: the probe's sampler and its stored samples."""
        if self._scale_metrics is None:
            store = self.resources.store

            def base(cids: Sequence[ContainerId]) -> dict[ContainerId, ResourceSample]:
                states = store.read(list(cids))
                return {c: st.prev for c, st in states.items() if st.prev is not None}

            self._scale_metrics = CollectorSource(self.resources.collector, base)
        return self._scale_metrics

    @property
    def defaults(self) -> PolicyDefaults:
        s = self.settings
        return PolicyDefaults(
            reset_after=s.reset_after,
            backoff_max=s.backoff_max,
            restarting_grace=s.restarting_grace,
            crashloop_restarts=s.crashloop_restarts,
            respect_manual_stop=s.respect_manual_stop,
            episode_ttl=s.quarantine_ttl,
            condition_defaults={c: s.condition_defaults(c) for c in Condition},
            own_labels=frozenset(key for key, _ in s.selector.labels),
        )


def build(settings: Settings, dispatcher: Dispatcher) -> Healer:
    setup_file_log(settings.log_dir)
    return Healer(
        settings=settings,
        stores=Stores.connect(settings),
        engine=DockerEngine.connect(
            settings.docker_host,
            settings.project_list,
            settings.docker_timeout,
            selector=settings.selector,
        ),
        dispatcher=dispatcher,
    )
