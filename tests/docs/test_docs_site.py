"""The README is a front door that fits on a screen, and the site speaks to users."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Written for the project's developers rather than its users.
DEVELOPER_PAGES = {"architecture.md"}
MAX_IMAGE_BYTES = 300_000


def user_pages() -> list[Path]:
    pages = [p for p in sorted(DOCS.glob("*.md")) if p.name not in DEVELOPER_PAGES]
    return [ROOT / "README.md", *pages]


def test_the_readme_fits_on_one_screen() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150


@pytest.mark.parametrize("path", user_pages(), ids=lambda p: p.name)
def test_pages_speak_to_users(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for word in (r"\bseed'?s?\b", r"\bthe issue\b", r"\bissue's\b"):
        for match in re.finditer(word, text, re.I):
            line = text[: match.start()].count("\n") + 1
            # "random seed 10" of a test run is fine; the project's history is not.
            if not text[max(0, match.start() - 7) : match.start()].endswith("random "):
                pytest.fail(f"{path.name}:{line} says {match.group(0)!r}")


def _nav_files(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [f for item in node for f in _nav_files(item)]
    if isinstance(node, dict):
        return [f for value in node.values() for f in _nav_files(value)]
    return []


def test_every_page_is_in_the_navigation_and_every_nav_entry_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_files(config["nav"])
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md"))


def referenced_images() -> list[tuple[Path, str]]:
    refs = []
    for path in user_pages():
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text(encoding="utf-8")):
            refs.append((path, target))
    return refs


@pytest.mark.parametrize(("path", "target"), referenced_images(), ids=lambda v: str(v))
def test_every_picture_exists_and_is_small(path: Path, target: str) -> None:
    image = (path.parent / target).resolve()
    assert image.is_file(), f"{path.name} shows {target}, which does not exist"
    assert image.stat().st_size <= MAX_IMAGE_BYTES


def test_the_readme_links_only_to_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
