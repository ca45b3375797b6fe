"""Measured figures a test prints for the reader (how long `up` took, a repair's latency).

Straight to the terminal, past pytest's capture, in a plain run. An xdist worker has no
terminal of the user's: there the figures travel to the controller with the worker's output
(``workeroutput``) and tests/conftest.py prints them in a "figures" section at the end.
"""

from __future__ import annotations

import pytest

WORKER_KEY = "figures"


def say(config: pytest.Config, message: str) -> None:
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput.setdefault(WORKER_KEY, []).append(message)
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{message}", flush=True)
