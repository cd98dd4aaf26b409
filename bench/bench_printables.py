"""Invitation cards for the demo's whole citizens' sample, downloaded as the pollster does.

Loads the demo (2,400 sampled numbers) into a fresh SQLite database, signs in as
the pollster and times ``GET /fieldwork/draws/<id>/invitations.pdf`` (the query,
2,400 QR codes and the PDF) with the test client, three times.

Usage (``make bench`` runs it as part of ``bench/run_all.py``)::

    python bench/bench_printables.py          # prints the table
    python bench/run_all.py --printables-only # replaces its part of docs/benchmarks.md
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


BEGIN = "<!-- printables: begin -->"
END = "<!-- printables: end -->"


@dataclass(frozen=True)
class PrintablesResult:
    cards: int
    seconds: tuple[float, ...]
    pdf_kib: float


def run(repeat: int = 3) -> PrintablesResult:
    """Load the demo into a temporary SQLite database and time the download ``repeat`` times."""
    from survey import create_app
    from survey.database import upgrade_engine
    from survey.extensions import db
    from survey.models import SampleDraw

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "ENV_NAME": "testing",
                "TESTING": True,
                "SECRET_KEY": "bench",
                "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
                "WTF_CSRF_ENABLED": False,
                "DATA_KEYS": "dGVzdC1rZXktZm9yLW1pbnlpLXRlc3RzLW9ubHkhISE=",
                "HASH_KEY": "bench",
                "AUDIT_ANCHOR_FILE": f"{folder}/anchors.jsonl",
            }
        )
        with app.app_context():
            upgrade_engine(db.engine)
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            draw = db.session.query(SampleDraw).one()
            draw_id, cards = draw.id, draw.sample_size
        client = app.test_client()
        client.post("/auth/login", data={"username": "pollster", "password": "minyi-demo"})
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(f"/fieldwork/draws/{draw_id}/invitations.pdf")
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.data.startswith(b"%PDF")
        return PrintablesResult(cards, tuple(seconds), len(response.data) / 1024)


def section(result: PrintablesResult, invocation: str) -> str:
    median = statistics.median(result.seconds)
    return "\n".join(
        [
            "### Invitation cards: the pollster's PDF of the whole sample",
            "",
            f"`{invocation}`: the demo's citizens' sample loaded into SQLite, then "
            "`GET /fieldwork/draws/<id>/invitations.pdf` as the signed-in pollster "
            f"({len(result.seconds)} runs): the query, one QR code per card (zxing-cpp) drawn "
            "as vector squares, eight cards to an A4 page.",
            "",
            "| cards | median s | best s | PDF KiB | target | met |",
            "| ---: | ---: | ---: | ---: | --- | --- |",
            f"| {result.cards:,} | {median:.2f} | {min(result.seconds):.2f} "
            f"| {result.pdf_kib:,.0f} | ≤ 10 s | {'yes' if median <= 10 else 'no'} |",
        ]
    )


def main() -> int:
    print(section(run(), "python bench/bench_printables.py"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
