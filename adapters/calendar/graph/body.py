"""Our text inside a Graph event's HTML body, kept apart from what others put there.

Outlook appends to the body of an event we wrote (the Teams join block, the organizer's own
notes), and replacing the body wholesale turns a Teams meeting into a plain one (PEERS.md,
Cal.com). So our text lives in one recognisable ``<div id="calsync-body">`` and a write
touches only that ``div``: it is found with an HTML parser, nested tags and all, so edits
Outlook makes inside or around it survive.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

#: The ``id`` of the ``div`` that holds our text (Outlook may prefix it with ``x_``).
WRAPPER_ID = "calsync-body"

_BREAK = re.compile(r"<br\s*/?>|</(?:p|div|li|tr|h[1-6])\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def html_body(text: str) -> dict[str, str]:
    """A whole Graph ``body`` holding only our text."""
    return {"contentType": "html", "content": wrapped(text)}


def wrapped(text: str) -> str:
    """``text`` escaped inside our ``div``, line breaks as ``<br>``."""
    lines = _lines(text)
    inner = "<br>".join(html.escape(line, quote=False) for line in lines)
    return f'<div id="{WRAPPER_ID}">{inner}</div>'


def our_text(body: Mapping[str, Any] | None) -> str | None:
    """The text inside our ``div`` of a Graph ``body``, normalised; None without the ``div``."""
    content, kind = _content(body)
    if kind != "html":
        return None
    found = _find_wrapper(content)
    if found is None:
        return None
    _, inner_start, inner_end, _ = found
    return normalised(html_text(content[inner_start:inner_end]))


def body_update(body: Mapping[str, Any] | None, text: str) -> dict[str, str] | None:
    """The ``body`` to PATCH so that it says ``text``, or None when it already does.

    Only our ``div`` is replaced; without one, ours goes first and the existing content
    (converted to HTML if it was plain text) follows unchanged.
    """
    wanted = normalised(text)
    if our_text(body) == wanted:
        return None
    content, kind = _content(body)
    if kind == "html":
        found = _find_wrapper(content)
        if found is not None:
            start, _, _, end = found
            return _html(content[:start] + wrapped(wanted) + content[end:])
    if not wanted:
        return None  # nothing of ours to say, and nothing of ours there
    if not content.strip():
        return html_body(wanted)
    rest = content if kind == "html" else "<br>".join(map(_escape, content.split("\n")))
    return _html(wrapped(wanted) + rest)


def html_text(fragment: str) -> str:
    """The text a reader sees in an HTML fragment (line breaks kept, tags dropped)."""
    text = _TAG.sub("", _BREAK.sub("\n", fragment))
    return html.unescape(text).replace("\xa0", " ")


def normalised(text: str) -> str:
    """Text as compared: lines stripped, blank lines at either end dropped."""
    return "\n".join(_lines(text))


def _lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _escape(line: str) -> str:
    return html.escape(line, quote=False)


def _html(content: str) -> dict[str, str]:
    return {"contentType": "html", "content": content}


def _content(body: Mapping[str, Any] | None) -> tuple[str, str]:
    content = str((body or {}).get("content") or "")
    kind = str((body or {}).get("contentType") or "text").lower()
    return content.replace("\r\n", "\n"), kind


def _find_wrapper(content: str) -> tuple[int, int, int, int] | None:
    """Offsets of our ``div``: its start tag's start and end, its end tag's start and end."""
    finder = _WrapperFinder(content)
    try:
        finder.feed(content)
        finder.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        return None
    return finder.found


class _WrapperFinder(HTMLParser):
    """Finds our ``div`` and the end tag that closes it, counting nested ``div`` tags."""

    def __init__(self, content: str) -> None:
        super().__init__(convert_charrefs=False)
        self._content = content
        self._line_starts = [0]
        for index, char in enumerate(content):
            if char == "\n":
                self._line_starts.append(index + 1)
        self._start: tuple[int, int] | None = None
        self._depth = 0
        self.found: tuple[int, int, int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div" or self.found is not None:
            return
        if self._start is not None:
            self._depth += 1
            return
        names = {(value or "").strip().lower() for key, value in attrs if key in ("id", "class")}
        if names & {WRAPPER_ID, f"x_{WRAPPER_ID}"}:
            offset = self._offset()
            self._start = (offset, offset + len(self.get_starttag_text() or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag != "div" or self._start is None or self.found is not None:
            return
        if self._depth:
            self._depth -= 1
            return
        offset = self._offset()
        close = self._content.find(">", offset)
        end = len(self._content) if close < 0 else close + 1
        self.found = (*self._start, offset, end)

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column
