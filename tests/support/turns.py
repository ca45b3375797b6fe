"""Serial tests run alone while the others run in parallel (pytest-xdist): a readers-writer
lock on two files shared by the workers of one run.

- An ordinary test holds the lock shared: any number run at once.
- A ``serial`` test holds it exclusively: it waits until the running ordinary tests are done,
  and no ordinary test starts until it is. It first takes the turnstile and keeps it, so new
  ordinary tests queue behind it rather than starve it (writer preference).
- ``alongside`` tests take no lock: long tests built to tolerate load run beside everything.

flock(2) locks belong to the open file: the kernel drops them when a worker dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Turns:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._turnstile = _open(folder / "turnstile.lock")
        self._room = _open(folder / "room.lock")

    @contextmanager
    def shared(self) -> Iterator[None]:
        fcntl.flock(self._turnstile, fcntl.LOCK_EX)  # behind a serial test that waits
        fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        fcntl.flock(self._room, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(self._room, fcntl.LOCK_UN)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        fcntl.flock(self._turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._room, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._room, fcntl.LOCK_UN)
        finally:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
