"""Outbound delivery: the signature a receiver checks, bounded jittered retries, and a
sender that never waits for the receiver."""

from __future__ import annotations

import threading
import time

import pytest

from healer.adapters.outbound import signing
from healer.adapters.outbound.apprise_target import split_urls
from healer.adapters.outbound.delivery import MAX_DELAY, Courier, WebhookAuth, backoff


def test_a_signature_holds_only_for_its_body_timestamp_and_secret() -> None:
    body = b'{"outcome": "acted"}'
    headers = WebhookAuth(secret="s3cret", token="t", headers={"X-Team": "ops"}).headers_for(
        body, now=1_700_000_000
    )
    assert headers["X-Healer-Timestamp"] == "1700000000"
    assert headers["X-Healer-Signature"].startswith("sha256=")
    assert headers["Authorization"] == "Bearer t" and headers["X-Team"] == "ops"
    assert signing.verify("s3cret", headers, body)
    assert not signing.verify("s3cret", headers, body + b" ")
    assert not signing.verify("other", headers, body)
    assert not signing.verify("s3cret", {**headers, "X-Healer-Timestamp": "1700000001"}, body)


def test_without_a_secret_nothing_is_signed() -> None:
    headers = WebhookAuth().headers_for(b"{}")
    assert headers == {"Content-Type": "application/json"}


@pytest.mark.parametrize("attempt", [0, 1, 5, 30])
def test_backoff_is_jittered_and_capped(attempt: int) -> None:
    assert backoff(attempt, rand=lambda: 0.0) == 0.0
    top = backoff(attempt, rand=lambda: 1.0)
    assert 0 < top <= MAX_DELAY and top == min(MAX_DELAY, 0.5 * 2**attempt)


def test_retries_are_bounded() -> None:
    slept: list[float] = []
    tries: list[int] = []

    def job() -> None:
        tries.append(1)
        raise OSError("connection refused")

    assert not Courier(retries=2, sleep=slept.append).attempt("hook", job)
    assert len(tries) == 3 and len(slept) == 2


def test_a_slow_receiver_never_holds_the_caller() -> None:
    release = threading.Event()
    courier = Courier(retries=0)
    started = time.monotonic()

    def slow() -> None:
        release.wait(5)

    assert courier.submit("hook", slow)
    assert time.monotonic() - started < 0.5
    release.set()
    assert courier.drain(5)


def test_apprise_urls_split_on_spaces_and_commas() -> None:
    assert split_urls(" json://a/x, ntfy://b  discord://c/d ") == [
        "json://a/x",
        "ntfy://b",
        "discord://c/d",
    ]
