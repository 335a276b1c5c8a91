"""domain/ is pure: it imports nothing but the standard library and itself."""

import ast
import sys
from pathlib import Path

import domain

DOMAIN_DIR = Path(domain.__file__).parent


def imported_top_level_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_domain_imports_only_the_standard_library() -> None:
    modules = sorted(DOMAIN_DIR.glob("*.py"))
    assert modules, "domain package has no modules"
    foreign = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_top_level_modules(path)
        if name != "domain" and name not in sys.stdlib_module_names
    }
    assert foreign == set()
