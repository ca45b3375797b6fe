"""Just enough PromQL lexing to list the metric names an expression reads.

Not a parser: string literals, label matchers, range/subquery brackets and grouping clauses are
blanked out, then every identifier not followed by `(` and not a keyword is a metric name.
Syntax itself is checked by promtool, which does parse.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[\w$]+")
_IDENT = re.compile(r"(?<![\w.$:])([A-Za-z_:][\w:]*)")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "atan2",
        "inf",
        "nan",
    }
)


def metric_names(expr: str) -> set[str]:
    """Names of the series `expr` selects (functions, keywords and label names excluded)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _OFFSET.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(1)
        if name.lower() in _KEYWORDS or re.match(r"\s*\(", text[match.end() :]):
            continue
        names.add(name)
    return names
