"""MkDocs hook: a page may link a file of the repository outside docs/ (`../deploy/README.md`).

The site has no such page, so `mkdocs build --strict` would refuse the link. A link to a file
that exists in the repository becomes the link's text followed by the file's path; a link to
a file that does not exist is left alone, so the strict build still catches it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    here = (docs / page.file.src_path).parent
    root = docs.parent

    def plain(match: re.Match[str]) -> str:
        target = (here / match[2]).resolve()
        if docs in target.parents or not target.is_file() or root not in target.parents:
            return match[0]
        return f"{match[1]} (`{target.relative_to(root)}` in the repository)"

    return LINK.sub(plain, markdown)
