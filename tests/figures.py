"""Figures the trust tests measure, gathered into one table at the end of a run.

A reliability test records what it actually did (requests and inputs tried,
parallel attempts, faults injected) and what it observed (5xx responses,
duplicates, rows lost) *before* asserting on them, so the table printed at the
end of ``pytest`` — and in CI's log — is measured, never typed in.
``docs/security.md`` copies that table from a CI run.

Use::

    from tests.figures import record_figures

    record_figures("fuzz: JSON API", inputs=len(cases), server_errors=errors)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


@dataclasses.dataclass
class Figures:
    """One row of the trust table; counts add up when a row is recorded twice."""

    area: str
    inputs: int = 0
    parallel: int = 0
    faults: int = 0
    server_errors: int = 0
    duplicates: int = 0
    rows_lost: int = 0
    runs: int = 0


COLUMNS = (
    ("inputs", "requests and inputs tried"),
    ("parallel", "parallel attempts"),
    ("faults", "faults injected"),
    ("server_errors", "5xx responses"),
    ("duplicates", "duplicates"),
    ("rows_lost", "rows lost"),
)

_TABLE: dict[str, Figures] = {}


def record_figures(
    area: str,
    *,
    backend: str | None = None,
    inputs: int = 0,
    parallel: int = 0,
    faults: int = 0,
    server_errors: int = 0,
    duplicates: int = 0,
    rows_lost: int = 0,
) -> None:
    """Add one test's measured counts to the row ``area`` (per backend if given)."""
    key = f"{area} ({backend})" if backend else area
    row = _TABLE.setdefault(key, Figures(key))
    row.inputs += inputs
    row.parallel += parallel
    row.faults += faults
    row.server_errors += server_errors
    row.duplicates += duplicates
    row.rows_lost += rows_lost
    row.runs += 1


def markdown_table() -> str:
    """The rows recorded so far, with a total line, as a Markdown table."""
    if not _TABLE:
        return ""
    header = "| area | " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "| --- |" + " ---: |" * len(COLUMNS)
    lines = [header, rule]
    totals = Figures("**total**")
    for key in sorted(_TABLE):
        row = _TABLE[key]
        lines.append(
            f"| {row.area} | " + " | ".join(f"{getattr(row, name):,}" for name, _ in COLUMNS) + " |"
        )
        for name, _ in COLUMNS:
            setattr(totals, name, getattr(totals, name) + getattr(row, name))
    total_cells = " | ".join(f"**{getattr(totals, name):,}**" for name, _ in COLUMNS)
    lines.append(f"| **total** | {total_cells} |")
    return "\n".join(lines)


def write_table(root: Path) -> Path | None:
    """Write the table to ``build/trust-figures.md`` (or ``$MINYI_FIGURES_FILE``)."""
    table = markdown_table()
    if not table:
        return None
    path = Path(os.environ.get("MINYI_FIGURES_FILE", root / "build" / "trust-figures.md"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table + "\n", encoding="utf-8")
    return path
