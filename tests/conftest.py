"""Fixtures shared by every suite.

- tests/unit: no services.
- tests/integration and tests/e2e: marked ``integration``/``e2e`` here, and need the real
  Redis and Docker engine (scripts/provision.sh starts both). If either does not answer, the
  session stops with the reason. ``HEALER_SKIP_INTEGRATION=1`` is the only way to skip them.

Helpers (ComposeProject, EventRecorder, wait_until, free_port, healthy_service_yaml, …)
live in tests/support.

Parallel runs (pytest-xdist, ``-n N --dist loadgroup``, as scripts/test.sh runs them): each
worker has its own Redis database (tests/support/services.py), every compose project and
healer stack is the test's own, and:

- a test marked ``serial`` (CPU burners, latency or rate measurements, engine restarts) runs
  alone: no other test runs meanwhile but those marked ``alongside`` (tests/support/turns.py);
- ``alongside`` tests (long, built to tolerate load: the compose-stack e2e, the soak) run
  beside everything; they are handed out first, serial tests last, and an
  ``alongside(late=True)`` test (the soak) just before the unit tests and the serial ones, to
  fill a worker the serial tests leave idle; nothing but one unit test waits behind an
  alongside test on its worker (tests/support/scheduling.py);
- the tests of a module with a module-scoped fixture (one stack for the module) run on one
  worker, so the fixture is set up once;
- ``tests.support.figures.say`` prints measured figures to the terminal, from a worker too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

# `from tests.support import …` must work however pytest was started (`pytest` or
# `python -m pytest`, from any folder), so the repository root goes first on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import docker.errors
import pytest
import redis

from tests.support import (
    SKIP_ENV,
    ComposeFactory,
    ComposeProject,
    EventRecorder,
    EventsFactory,
    PrivateEngine,
    ensure_test_image,
    redis_test_url,
    scheduling,
    skip_integration,
    timeline,
    unique_project_name,
    unreachable_services,
)
from tests.support.figures import WORKER_KEY as figures_key
from tests.support.healer import HealerFactory, HealerStack
from tests.support.turns import Turns

TESTS_DIR = Path(__file__).resolve().parent
SERVICE_SUITES = ("integration", "e2e", "chaos")
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()
_TURNS = pytest.StashKey[Turns]()


# --- markers and the services check -------------------------------------------------------


def _suite(item: pytest.Item) -> str | None:
    try:
        return item.path.resolve().relative_to(TESTS_DIR).parts[0]
    except ValueError:
        return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers and xdist groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason=f"{SKIP_ENV}=1: integration and e2e tests skipped on request")
    for item in items:
        suite = _suite(item)
        if suite in SERVICE_SUITES:
            item.add_marker(getattr(pytest.mark, suite))
            if skip_integration():
                item.add_marker(skip)
        if item.get_closest_marker("alongside"):
            # The scheduler knows them by their group (tests/support/scheduling.py).
            item.add_marker(pytest.mark.xdist_group(scheduling.group_of(item.nodeid)))
        elif _module_scoped(item) and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    # Long load-tolerant tests first, serial ones last: xdist hands tests out in this order,
    # so the serial tests wait for the end of the parallel crowd, not the other way round.
    items.sort(key=_turn)


def _turn(item: pytest.Item) -> int:
    alongside = item.get_closest_marker("alongside")
    if alongside:
        # `late`: handed out as the parallel crowd runs out, so it fills the workers the serial
        # tests leave idle instead of taking one from the crowd.
        return 2 if alongside.kwargs.get("late") else 0
    if item.get_closest_marker("serial"):
        return 4
    # The unit tests (milliseconds each) right after the late alongside test: the one test
    # queued behind it on its worker is one of them, not a serial test.
    return 3 if _suite(item) == "unit" else 1


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return scheduling.make_scheduler(config, log)


def _module_scoped(item: pytest.Item) -> bool:
    """The test uses a fixture of module scope: its module's tests share one xdist worker."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(d.scope == "module" for defs in info.name2fixturedefs.values() for d in defs)


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: its basetemp's parent is the run's
        config.stash[_TURNS] = Turns(Path(config.option.basetemp).parent / "turns")


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-timeout: waiting is no test time
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    turns = item.config.stash.get(_TURNS, None)
    if turns is None or item.get_closest_marker("alongside"):
        return (yield)
    hold = turns.exclusive if item.get_closest_marker("serial") else turns.shared
    with hold():
        return (yield)


def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection: `pytest tests/unit` or `-m "not integration"` needs no services.
    if session.config.option.collectonly or skip_integration():
        return
    if not any(_suite(item) in SERVICE_SUITES for item in session.items):
        return
    problems = unreachable_services()
    if problems:
        pytest.exit(
            "integration/e2e tests need Redis and the Docker engine:\n  "
            + "\n  ".join(problems)
            + f"\nRun scripts/provision.sh to start them, or set {SKIP_ENV}=1 to skip "
            "these tests explicitly.",
            returncode=pytest.ExitCode.INTERNAL_ERROR,
        )


_FIGURES = pytest.StashKey[list[str]]()


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's: a worker finished, with its output
def pytest_testnodedown(node: Any, error: object) -> None:
    figures = getattr(node, "workeroutput", {}).get(figures_key, [])
    node.config.stash.setdefault(_FIGURES, []).extend(figures)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = terminalreporter.config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)


def pytest_report_header(config: pytest.Config) -> str:
    if skip_integration():
        return f"integration/e2e: SKIPPED ({SKIP_ENV}=1)"
    return f"integration/e2e: redis {redis_test_url()}, docker from environment"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # In the controller (xdist sends every report there), opt-in: where the wall time goes.
    path = os.environ.get(timeline.ENV)
    if path and "PYTEST_XDIST_WORKER" not in os.environ:
        timeline.record(Path(path), report)


def _failed(request: pytest.FixtureRequest) -> bool:
    report = request.node.stash.get(_CALL_REPORT, None)
    return report is None or report.failed


# --- Redis ---------------------------------------------------------------------------------


def _flush(url: str) -> None:
    with redis.Redis.from_url(url, socket_connect_timeout=5) as client:
        client.flushdb()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of the tests' own Redis database (db 15 by default), empty before and after."""
    url = redis_test_url()
    with redis.Redis.from_url(url) as probe:
        if probe.connection_pool.connection_kwargs.get("db", 0) == 0:
            pytest.fail(f"refusing to flush db 0 of {url}: tests need a dedicated db number")
    _flush(url)
    yield url
    _flush(url)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of ``redis_url`` that returns str."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# --- Docker --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: docker.DockerClient) -> Iterator[str]:
    """Tag of the busybox test image, built by tests/image/build.sh if missing."""
    tag, built = ensure_test_image(docker_client)
    yield tag
    if built:  # tests remove what they create; provision.sh's build is kept
        try:
            docker_client.images.remove(tag)
        except docker.errors.APIError as exc:
            print(f"could not remove test image {tag}: {exc}")


@pytest.fixture
def compose_project(
    request: pytest.FixtureRequest,
    docker_client: docker.DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
    test_image: str,
) -> Iterator[ComposeFactory]:
    """Factory: ``compose_project(yaml_text, name=None, *, wait=False, up=True, env=None,
    timeout=120.0) -> ComposeProject``.

    Writes ``compose.yaml`` into a fresh folder, names the project ``chtest-[name-]xxxxxx``
    and runs ``up -d`` (``--wait`` with ``wait``; nothing with ``up=False``). ``env`` is
    added to docker-compose's environment (for ``${VAR}`` in the file). At teardown every
    project is removed (ComposeProject.down); when the test failed its logs are printed.
    """
    projects: list[ComposeProject] = []

    def make(
        yaml_text: str,
        name: str | None = None,
        *,
        wait: bool = False,
        up: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ComposeProject:
        project_name = unique_project_name(name)
        folder = tmp_path_factory.mktemp(project_name, numbered=False)
        file = folder / "compose.yaml"
        file.write_text(yaml_text)
        project = ComposeProject(
            name=project_name, dir=folder, file=file, client=docker_client, env=dict(env or {})
        )
        projects.append(project)  # before `up`: a half-started project is removed too
        if up:
            project.up(wait=wait, timeout=timeout)
        return project

    yield make

    errors = []
    for project in reversed(projects):
        if _failed(request):
            print(f"--- {project.name}: docker-compose ps / logs ---")
            print(project.run("ps", "-a", check=False).stdout)
            print("\n".join(project.logs().splitlines()[-200:]))
        try:
            project.down()
        except AssertionError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def docker_events(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient
) -> Iterator[EventsFactory]:
    """Factory: ``docker_events(project, *, include_exec=False) -> EventRecorder``.

    ``project`` is a project name or a ComposeProject. Recording starts before the factory
    returns; recorders are stopped at teardown (and their events printed if the test failed).
    """
    recorders: list[EventRecorder] = []

    def start(project: str | ComposeProject, *, include_exec: bool = False) -> EventRecorder:
        name = project.name if isinstance(project, ComposeProject) else project
        recorder = EventRecorder(docker_client, name, include_exec=include_exec)
        recorders.append(recorder)
        return recorder

    yield start

    for recorder in recorders:
        recorder.stop()
        if _failed(request):
            print(f"--- docker events of {recorder.project} ---\n{recorder.describe()}")


@pytest.fixture
def private_engine(test_image: str) -> Iterator[PrivateEngine]:
    """A second dockerd of the test's own (see tests/support/dockerd.py), with the test image
    loaded: restart it, stop it, point a healer at ``engine.url``. Never the host's engine.
    Torn down whole at the end: containers, daemon, shims, mounts, folders."""
    engine = PrivateEngine()
    try:
        engine.start()
        engine.load_image(test_image)
        yield engine
    finally:
        problems = engine.close()
        if problems:
            pytest.fail(f"private engine teardown: {problems}", pytrace=False)


# --- the healer's own roles ------------------------------------------------------------


@pytest.fixture
def healer_stack(redis_url: str, tmp_path: Path) -> Iterator[HealerFactory]:
    """`healer_stack(project, **env)` → a HealerStack with env set; start roles on it."""
    stacks: list[HealerStack] = []

    def make(project: str, **overrides: str) -> HealerStack:
        log_dir = tmp_path / "healer-logs"
        log_dir.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "HEALER_PROJECTS": project,
            "WATCHDOG_INTERVAL": "2",
            "RESTART_COOLDOWN": "30",
            "HEALER_API_TOKEN": "test-token-0123456789",
            "HEALER_ALERTS_TOKEN": "alerts-token-0123456789",
            "HEALER_METRICS_TOKEN": "metrics-token-0123456789",
            "HEALER_LOG_DIR": str(log_dir),
            "HEALER_VERIFY_TIMEOUT": "10",
            "PYTHONUNBUFFERED": "1",
        }
        env.update({k: str(v) for k, v in overrides.items()})
        stack = HealerStack(env=env, log_dir=log_dir)
        stacks.append(stack)
        return stack

    yield make
    for s in stacks:
        s.discard()
