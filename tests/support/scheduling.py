"""How xdist hands tests out (``--dist loadgroup``), with one change: at most one unit of
tests waits on a worker behind an ``alongside`` test.

xdist gives a worker its next unit of tests while it still has up to two to run, so that it
never idles. Behind the three-minute soak or the seven-minute compose-stack e2e, those units
wait for minutes while other workers run dry: two serial tests queued behind the soak once
added over a minute to the whole run. A worker must know its next test before it starts one
(pytest's ``nextitem``), so the last test of an alongside group still gets one follower; the
test order (tests/conftest.py) puts the unit tests right after the soak, so that follower
is a unit test of a few milliseconds. Alongside tests are put in xdist groups named
``alongside:…`` (tests/conftest.py), which is how the scheduler, which sees only test ids,
knows them.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling

ALONGSIDE = "alongside:"


def group_of(nodeid: str) -> str:
    """The xdist group an alongside test goes in: its module's, so that tests sharing a
    module-scoped stack still run on one worker."""
    return ALONGSIDE + nodeid.split("::", 1)[0]


class AlongsideScheduling(LoadGroupScheduling):  # type: ignore[misc]  # xdist has no types
    def _reschedule(self, node: Any) -> None:
        # Called again as each of the node's tests completes: once only the group's last
        # test is left, xdist's own rule gives it its one follower.
        if self._holds_alongside(node) and self._pending_of(self.assigned_work[node]) > 1:
            return
        super()._reschedule(node)

    def _holds_alongside(self, node: Any) -> bool:
        return any(
            scope.startswith(ALONGSIDE) and not all(done.values())
            for scope, done in self.assigned_work[node].items()
        )


def make_scheduler(config: pytest.Config, log: Any) -> AlongsideScheduling | None:
    """The scheduler for ``--dist loadgroup`` (what scripts/test.sh runs); None keeps xdist's
    own for any other mode."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return AlongsideScheduling(config, log)
