"""The healer's errors, grouped by what the caller should do next.

Every error the healer raises on purpose is one of three kinds, so a Celery task, the HTTP API
and the CLI each decide once, by kind, instead of case by case:

- `RetryLater`: temporary; the same call can succeed after `retry_after` seconds (a repair of
  the service in flight, every repair slot taken). Tasks retry with that countdown.
- `Refused`: permanent for this input; retrying the same call gives the same answer. The API
  answers `status` (a 4xx), the CLI exits 1, a task records the refusal and does not retry.
- `Unavailable`: something the healer needs is down (Redis, the Docker engine, the broker, a
  host's agent). The API answers 503 with Retry-After, the CLI exits 3, tasks retry with
  backoff until it is back.

Pure: no I/O imports, so every layer may raise and catch these. The adapters translate their
libraries' errors into these kinds at their boundary (Docker: adapters.docker.engine; Redis:
adapters.store.connection).
"""

from __future__ import annotations


class HealerError(Exception):
    """Base of every error the healer raises on purpose."""


class RetryLater(HealerError):
    """Temporary: try the same call again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(HealerError):
    """Permanent for this input: the message says what to change. `status` is its HTTP answer."""

    status = 400


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    """The request names something ambiguous or contradicts the current state."""

    status = 409


class Invalid(Refused):
    """A well-formed request whose values make no sense here (an unknown action, say)."""

    status = 422


class Unavailable(HealerError):
    """A dependency is down: wait, or answer 503. `retry_after` is a hint in seconds; `public`,
    when set, is what an HTTP answer may say (the message itself may name internal addresses,
    which only the log gets)."""

    retry_after = 5.0
    public: str | None = None


# CLI exit codes by kind (docs: CLI reference, "Exit codes").
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
