"""The site's hook turns links to repository files outside docs/ into text, and leaves links
to files that do not exist for the strict build to refuse."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]


def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hooks", ROOT / "scripts/mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(markdown: str) -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_path="index.md"))
    result: str = hooks().on_page_markdown(markdown, page, {"docs_dir": str(ROOT / "docs")}, None)
    return result


def test_a_link_to_a_repository_file_becomes_text() -> None:
    out = render("see the [deployment notes](../deploy/README.md#upgrading) first")
    assert out == "see the deployment notes (`deploy/README.md` in the repository) first"


def test_links_to_missing_files_pages_and_images_are_left_alone() -> None:
    for text in (
        "[gone](../no/such/file.md)",
        "[a page](alerts.md)",
        "![a picture](../deploy/README.md)",
    ):
        assert render(text) == text
