"""Every relative link in README.md and docs/*.md leads to a file of this repository, so a
fresh clone's documentation has no dead links (and none that lead outside the repository)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Inline links and images ``[text](target "title")`` and reference definitions ``[id]: target``.
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
#: A path to a Markdown file in a code span: ``docs/RUNBOOK.md``, ``../shared/spec/RULES.md``.
MARKDOWN_PATH = re.compile(r"`([^`\s]*/[^`\s]*\.md)(?:#[^`\s]*)?`")


def _targets(text: str) -> list[str]:
    """Link targets outside fenced code blocks."""
    prose = FENCE.sub("", text)
    return INLINE.findall(prose) + REFERENCE.findall(prose)


def _is_relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("//")


def _relative_links(document: Path) -> list[str]:
    return [t for t in _targets(document.read_text()) if _is_relative(t)]


def test_the_documents_are_found() -> None:
    assert (ROOT / "README.md") in DOCUMENTS
    assert len(DOCUMENTS) > 1, "docs/ has no Markdown files"


def test_the_readme_links_the_rules() -> None:
    assert "docs/RULES.md" in _relative_links(ROOT / "README.md")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    broken = []
    for target in _relative_links(document):
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if not path:  # an anchor in the same document
            continue
        resolved = (document.parent / path).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{document.relative_to(ROOT)} links to no file of the repository"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_markdown_path_in_code_resolves_inside_the_repository(document: Path) -> None:
    """A path to a Markdown file written as code (`docs/x.md`) is a link too, for a reader."""
    named = MARKDOWN_PATH.findall(FENCE.sub("", document.read_text()))
    missing = [
        path
        for path in named
        if not any(
            (base / path).resolve().is_relative_to(ROOT) and (base / path).resolve().exists()
            for base in (document.parent, ROOT)
        )
    ]
    assert missing == [], f"{document.relative_to(ROOT)} names files the repository lacks"


def test_a_link_that_leaves_the_repository_is_caught() -> None:
    assert _relative_links(ROOT / "README.md")
    text = "See [rules](../shared/spec/RULES.md), [`x`](docs/x.md#part) and [web](https://a.b).\n"
    assert _targets(text) == ["../shared/spec/RULES.md", "docs/x.md#part", "https://a.b"]
    assert [t for t in _targets(text) if _is_relative(t)] == [
        "../shared/spec/RULES.md",
        "docs/x.md#part",
    ]
    assert _targets("```\n[no](link.md)\n```\n[id]: ref.md\n") == ["ref.md"]
    assert MARKDOWN_PATH.findall("rules R1-R28 (`../shared/spec/RULES.md`)") == [
        "../shared/spec/RULES.md"
    ]
