"""Telephony providers: one module plus one registry line; the parts that must not
import Flask or the webhook blueprint do not."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from survey import create_app
from survey.config import ConfigurationError
from survey.extensions import db
from survey.integrations.telephony import PROVIDERS, telephony
from survey.models import CallAttempt
from survey.worker import run_once
from tests.app.phone_setup import WEDNESDAY_10AM, sample_cases
from tests.conftest import _test_config

ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_provider_names_the_registered_ones(tmp_path: Path) -> None:
    config = _test_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", TELEPHONY="carrier-pigeon")
    with pytest.raises(
        ConfigurationError, match="unknown MINYI_TELEPHONY 'carrier-pigeon'; use 'simulated' or"
    ):
        create_app(config)


def test_a_provider_is_one_module_and_one_registry_line(
    demo_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "minyi_recording_provider.py").write_text(
        textwrap.dedent(
            """
            from survey.integrations.simulated import SimulatedTelephony

            class RecordingTelephony(SimulatedTelephony):
                pass

            def create(app):
                return RecordingTelephony()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(PROVIDERS, "recording", "minyi_recording_provider")
    app = create_app(
        _test_config(demo_database_url, TELEPHONY="recording", CLOCK=lambda: WEDNESDAY_10AM)
    )
    try:
        with app.app_context():
            adapter = telephony()
            assert type(adapter).__name__ == "RecordingTelephony"
            sample_cases({"临江县": ["13800138010"]})
            assert run_once(db.session, adapter, "worker-1").dialled == 1
            (call,) = adapter.calls  # type: ignore[attr-defined]
            attempt = db.session.scalars(sa.select(CallAttempt)).one()
            # Dialled through the registered provider, with the attempt's own webhooks,
            # and the provider's call id stored.
            assert call.request.to == "+8613800138010"
            assert call.request.answer_url.endswith(f"/telephony/voice?attempt={attempt.id}")
            assert attempt.call_sid == call.sid
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


def _imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # Services run outside requests (the worker, commands): no Flask.
        ("survey/services/calling.py", ("flask",)),
        ("survey/services/dialling.py", ("flask",)),
        ("survey/services/answering.py", ("flask",)),
        ("survey/integrations/provider.py", ("flask",)),
        ("survey/integrations/webhook_urls.py", ("flask",)),
        # Providers and the simulator never reach into the webhook blueprint or the worker.
        ("survey/integrations/simulated.py", ("survey.telephony", "survey.worker")),
        ("survey/integrations/simulated_respondents.py", ("survey.telephony", "survey.worker")),
        ("survey/integrations/twilio_adapter.py", ("survey.telephony", "survey.worker")),
        ("survey/integrations/telephony.py", ("survey.telephony", "survey.worker")),
        # The interviewer console dials through the dialling service, not the worker.
        ("survey/cati/console_views.py", ("survey.worker",)),
    ],
)
def test_layering(module: str, forbidden: tuple[str, ...]) -> None:
    imported = _imported_modules(ROOT / module)
    wrong = sorted(
        name
        for name in imported
        for prefix in forbidden
        if name == prefix or name.startswith(prefix + ".")
    )
    assert not wrong, f"{module} imports {wrong}"
