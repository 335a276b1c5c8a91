"""Text no store or broker can take: a NUL (PostgreSQL refuses it in ``text``) or a lone
surrogate (not Unicode, so it cannot be encoded as UTF-8 for the broker, a message id or
a column). JSON allows both as ``\\u0000`` and ``\\ud800``; ingest refuses them up front so
a CRM event never dies later in a worker.
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: Longest field path shown; a hostile body may nest long keys.
MAX_PATH = 200


def first_unstorable_text(event: dict[str, Any]) -> str | None:
    """``"<field path>: <problem>"`` for the first string or key holding such text, or None.

    Every string is looked at, at any depth, names of fields too: a key is reported with
    the path of the object that holds it.
    """
    pending: list[tuple[str, Any]] = [("", event)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, str):
            problem = _problem(node)
            if problem is not None:
                return f"{_shown(path)}: {problem}"
        elif isinstance(node, dict):
            for key, value in node.items():
                problem = _problem(key)
                if problem is not None:
                    return f"{_shown(path)}: a field name {problem}"
                pending.append((f"{path}.{key}" if path else key, value))
        elif isinstance(node, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(node))
    return None


def _shown(path: str) -> str:
    if not path:
        return "body"
    return path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"


def _problem(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "holds a NUL character (\\u0000), which no text may hold"
    return "holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
