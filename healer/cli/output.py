"""How every command prints: text for people, or with `-o json` (alias `--json`) the body the
HTTP API answers for the same thing, and a live progress line on stderr while waiting."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


OutputOpt = Annotated[
    Format,
    typer.Option("-o", "--output", help="text, or json: the HTTP API's body for the same thing."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Same as -o json.")]


def wants_json(output: Format, as_json: bool) -> bool:
    return as_json or output == Format.JSON


def emit(body: Any) -> None:
    """One JSON document on stdout."""
    typer.echo(json.dumps(body, indent=2, default=str))


def emit_line(body: Any) -> None:
    """One JSON document on one line (a stream of them: `--follow -o json`)."""
    typer.echo(json.dumps(body, default=str), nl=True)
    sys.stdout.flush()


@contextmanager
def progress(text: str, enabled: bool = True) -> Iterator[Any]:
    """A live status line on stderr (a spinner and `text`, updated with `.update(...)`) while
    a command waits; nothing when stderr is not a terminal, so scripts and logs stay clean."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield _Silent()
        return
    with console.status(text) as status:
        yield status


class _Silent:
    def update(self, *_: Any, **__: Any) -> None:
        """Nothing to update without a terminal."""
