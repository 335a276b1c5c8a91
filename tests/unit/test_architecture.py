"""Layering: domain/ imports nothing but the standard library (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"domain", "__future__"}
    offenders = {
        str(path.relative_to(DOMAIN.parent)): sorted(_imported_roots(path) - allowed)
        for path in sorted(DOMAIN.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert offenders, "domain/ has no modules to check"
