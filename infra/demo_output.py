"""How ``calsync demo`` prints its tables."""

from __future__ import annotations

from typing import TextIO


def print_table(out: TextIO, rows: list[tuple[str, ...]]) -> None:
    """``rows`` as aligned columns, the first row as the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    out.writelines(line.rstrip() + "\n" for line in lines)
