"""Signed checkpoints: the newest entries deleted, or the chain rewritten and re-hashed by
its published formula, are detected (red-team probes of issue 20).

Each probe acts as someone with write access to the database but not to the app's
environment (the signing key) nor to its anchor file, and runs ``minyi audit verify``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskCliRunner

from survey.extensions import db
from survey.models import AuditCheckpoint, AuditLogEntry, Cycle, CycleStatus, ResultSnapshot
from survey.services import audit, checkpoints, cycles
from tests.app.helpers import login
from tests.app.test_audit import _format_2
from tests.figures import record_figures


def _verify(runner: FlaskCliRunner) -> tuple[bool, str]:
    result = runner.invoke(args=["audit", "verify"])
    intact = result.exit_code == 0 and "audit log intact" in result.output
    return intact, result.output


def _entry_ids(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditLogEntry.id).order_by(AuditLogEntry.id)))


def _delete_entries(app: Flask, ids: list[int]) -> None:
    with app.app_context():
        db.session.execute(sa.delete(AuditLogEntry).where(AuditLogEntry.id.in_(ids)))
        db.session.commit()


def _rehash_from(app: Flask, first_id: int) -> None:
    """Recompute every entry's link and hash from ``first_id`` on, by the documented
    formula (format 2, written out in test_audit.py): the chain verifies again."""
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        previous = audit.GENESIS_HASH
        for entry in entries:
            if entry.id >= first_id:
                entry.previous_hash = previous
                entry.entry_hash = _format_2(entry)
                db.session.flush()
            previous = entry.entry_hash
        db.session.commit()
        assert audit.verify_chain(db.session) == []


def _checkpoint(runner: FlaskCliRunner) -> str:
    return str(runner.invoke(args=["audit", "checkpoint"]).output)


@pytest.mark.parametrize("deleted", [1, 5])
def test_deleting_the_newest_entries_after_a_checkpoint_is_detected(
    demo_app: Flask, backend: str, deleted: int
) -> None:
    runner = demo_app.test_cli_runner()
    taken = _checkpoint(runner)
    ids = _entry_ids(demo_app)
    assert _verify(runner)[0]
    _delete_entries(demo_app, ids[-deleted:])
    intact, output = _verify(runner)
    record_figures(
        f"audit: newest {deleted} entries deleted after a checkpoint",
        backend=backend,
        inputs=1,
        rows_lost=int(intact),
    )
    assert not intact, output
    ends = f"names entry {ids[-1]}, which is missing (the log ends at entry {ids[-deleted - 1]})"
    assert ends in output
    assert f": entry {ids[-1]} ({len(ids)} entries" in taken


@pytest.mark.parametrize("how", ["rewritten", "deleted"])
def test_a_chain_re_hashed_by_its_formula_is_detected(
    demo_app: Flask, backend: str, how: str
) -> None:
    """An entry changed (or one removed from the middle), then every later entry
    re-hashed by the published formula: the chain alone verifies, the checkpoint not."""
    runner = demo_app.test_cli_runner()
    _checkpoint(runner)
    ids = _entry_ids(demo_app)
    target = ids[len(ids) // 2]
    with demo_app.app_context():
        if how == "rewritten":
            db.session.execute(
                sa.update(AuditLogEntry)
                .where(AuditLogEntry.id == target)
                .values(actor="someone-else", details='{"note": "never happened"}')
            )
        else:
            db.session.execute(sa.delete(AuditLogEntry).where(AuditLogEntry.id == target))
        db.session.commit()
    _rehash_from(demo_app, target)
    intact, output = _verify(runner)
    record_figures(
        f"audit: chain {how} and re-hashed by its formula",
        backend=backend,
        inputs=1,
        rows_lost=int(intact),
    )
    assert not intact, output
    assert f"entry {ids[-1]} does not have the hash signed in checkpoint" in output
    assert "the log was rewritten up to it" in output


def _forge(app: Flask, key: Ed25519PrivateKey, claimed_key: str | None = None) -> int:
    """Append a checkpoint row linked to the newest one, signed with ``key``."""
    with app.app_context():
        newest = db.session.scalars(
            sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
        ).one()
        head = db.session.scalars(
            sa.select(AuditLogEntry).order_by(AuditLogEntry.id.desc()).limit(1)
        ).one()
        fields = {
            "seq": newest.seq + 1,
            "created_at": newest.created_at + timedelta(seconds=1),
            "entry_id": head.id,
            "entry_count": newest.entry_count,
            "entry_hash": head.entry_hash,
            "previous": checkpoints.Checkpoint.of_row(newest).digest,
        }
        signature = key.sign(checkpoints.message(**fields)).hex()
        public = claimed_key or checkpoints.public_key_hex(key)
        db.session.add(AuditCheckpoint(**fields, public_key=public, signature=signature))
        db.session.commit()
        return int(fields["seq"])


def test_a_checkpoint_forged_without_the_key_is_detected(demo_app: Flask, backend: str) -> None:
    """Entries deleted, then a checkpoint of the shortened log forged: with the
    attacker's own key, or claiming the real public key."""
    runner = demo_app.test_cli_runner()
    _checkpoint(runner)
    ids = _entry_ids(demo_app)
    with demo_app.app_context():
        real = checkpoints.current_signer().public_key
    detected = 0
    for attempt, claimed in enumerate((None, real)):
        with demo_app.app_context():
            db.session.execute(sa.delete(AuditCheckpoint).where(AuditCheckpoint.seq > 1))
            db.session.commit()
        _delete_entries(demo_app, ids[-(attempt + 1) :])
        seq = _forge(demo_app, Ed25519PrivateKey.generate(), claimed)
        intact, output = _verify(runner)
        detected += not intact
        assert f"checkpoint {seq} does not carry a valid signature of a trusted key" in output
        assert "which is missing" in output  # the genuine checkpoint still counts
    record_figures(
        "audit: checkpoint forged without the key",
        backend=backend,
        inputs=2,
        rows_lost=2 - detected,
    )
    assert detected == 2


@pytest.mark.parametrize("which", ["newest", "middle"])
def test_deleted_checkpoint_rows_are_detected(demo_app: Flask, backend: str, which: str) -> None:
    """The newest checkpoints and the entries they named deleted from the database: the
    anchor file outside it still has them.  A row deleted from the middle breaks the
    checkpoints' own chain, even with the anchor file gone too."""
    runner = demo_app.test_cli_runner()
    ids = _entry_ids(demo_app)
    with demo_app.app_context():
        for _step in range(4):
            audit.record(db.session, actor="office", action="test.step", object_type="t")
            db.session.commit()
            checkpoints.take(db.session)
            db.session.commit()
        seqs = list(db.session.scalars(sa.select(AuditCheckpoint.seq)))
        anchor = checkpoints.current_signer().anchor_file
    assert seqs == [1, 2, 3, 4]
    assert anchor is not None and len(anchor.read_text().splitlines()) == 4
    assert _verify(runner)[0]
    with demo_app.app_context():
        if which == "newest":
            db.session.execute(sa.delete(AuditCheckpoint).where(AuditCheckpoint.seq >= 3))
            db.session.execute(sa.delete(AuditLogEntry).where(AuditLogEntry.id > ids[-1] + 2))
        else:
            db.session.execute(sa.delete(AuditCheckpoint).where(AuditCheckpoint.seq == 2))
            anchor.unlink()
        db.session.commit()
    intact, output = _verify(runner)
    record_figures(
        f"audit: {which} checkpoint rows deleted", backend=backend, inputs=1, rows_lost=int(intact)
    )
    assert not intact, output
    if which == "newest":
        assert f"checkpoint 4 (in anchor file {anchor}) is missing from the database" in output
        assert "checkpoint 3 names entry" in output and "which is missing" in output
    else:
        assert "checkpoint 3 does not follow checkpoint 1" in output


def test_the_published_snapshot_anchors_the_log(results_app: Flask, backend: str) -> None:
    """A published snapshot carries a signed checkpoint: with every checkpoint row and
    the anchor file gone, a re-hashed chain is still caught by the public snapshot."""
    runner = results_app.test_cli_runner()
    with results_app.app_context():
        snapshot = db.session.scalars(sa.select(ResultSnapshot).limit(1)).one()
        anchored = checkpoints.Checkpoint.of_dict(json.loads(snapshot.content)["audit_checkpoint"])
        signer = checkpoints.current_signer()
        assert anchored.signed_by(signer.trusted)
        # As an auditor checks it offline, from the definition (docs/security.md).
        published = json.loads(snapshot.content)["audit_checkpoint"]
        _check_offline(published, signer.public_key)
        assert anchored.entry_hash == db.session.get(AuditLogEntry, anchored.entry_id).entry_hash
    assert _verify(runner)[0]
    with results_app.app_context():
        db.session.execute(sa.delete(AuditCheckpoint))
        db.session.commit()
    assert signer.anchor_file is not None
    signer.anchor_file.unlink(missing_ok=True)  # (the template's file is another one)
    first = _entry_ids(results_app)[0]
    with results_app.app_context():
        db.session.execute(
            sa.update(AuditLogEntry).where(AuditLogEntry.id == first).values(actor="nobody")
        )
        db.session.commit()
    _rehash_from(results_app, first)
    intact, output = _verify(runner)
    record_figures(
        "audit: re-hashed chain, only the snapshot's checkpoint left",
        backend=backend,
        inputs=1,
        rows_lost=int(intact),
    )
    assert not intact
    assert f"(in results snapshot {snapshot.id}) is missing from the database" in output
    assert f"entry {anchored.entry_id} does not have the hash signed in checkpoint" in output


def _check_offline(checkpoint: dict[str, object], public_key: str) -> None:
    """Checkpoint format 1, written out here from its definition, not imported."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    names = ("seq", "created_at", "entry_id", "entry_count", "entry_hash", "previous")
    text = "\n".join(["minyi-audit-checkpoint-1", *(str(checkpoint[name]) for name in names)])
    assert checkpoint["public_key"] == public_key
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
    key.verify(bytes.fromhex(str(checkpoint["signature"])), text.encode("utf-8"))


def test_untouched_log_verifies_and_names_its_newest_anchor(demo_app: Flask, backend: str) -> None:
    runner = demo_app.test_cli_runner()
    assert "checkpoint" in _checkpoint(runner)
    with demo_app.app_context():
        audit.record(db.session, actor="office", action="test.after", object_type="t")
        db.session.commit()
    intact, output = _verify(runner)
    record_figures("audit: untouched log", backend=backend, inputs=1, rows_lost=int(not intact))
    assert intact, output
    assert "1 entries after it" in output
    with demo_app.app_context():
        public = checkpoints.current_signer().public_key
    assert f"checkpoint signing key (Ed25519, public): {public}" in output


def test_entries_after_the_newest_checkpoint_are_the_window(demo_app: Flask) -> None:
    """The documented limit: entries written after the newest checkpoint can be
    deleted undetected until the next one (the worker signs once a minute)."""
    runner = demo_app.test_cli_runner()
    _checkpoint(runner)
    with demo_app.app_context():
        entry = audit.record(db.session, actor="office", action="test.late", object_type="t")
        db.session.commit()
    _delete_entries(demo_app, [entry.id])
    assert _verify(runner)[0]


def test_cycle_steps_and_the_worker_take_checkpoints(
    demo_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from survey import worker
    from survey.integrations.telephony import telephony

    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        target = next(status for status in CycleStatus if cycle.can_transition_to(status))
        cycles.transition_cycle(db.session, cycle, target, actor="office")
        db.session.commit()
        newest = _newest_checkpoint()
        assert (newest.entry_id, newest.entry_count) == (_head(), _count_entries())
        # The worker: the head has not moved, no checkpoint; it moved, but the newest
        # checkpoint is younger than a minute: none either; once it is older: one.
        assert worker.run_once(db.session, telephony(), "worker-1").audit_checkpoint is None
        audit.record(db.session, actor="office", action="test.later", object_type="t")
        db.session.commit()
        assert worker.run_once(db.session, telephony(), "worker-1").audit_checkpoint is None
        monkeypatch.setattr(worker, "CHECKPOINT_EVERY", timedelta(0))
        report = worker.run_once(db.session, telephony(), "worker-1")
        assert report.audit_checkpoint == newest.seq + 1
        assert _newest_checkpoint().entry_id == _head()
        assert checkpoints.verify_log(db.session).intact


def _newest_checkpoint() -> AuditCheckpoint:
    return db.session.scalars(
        sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).one()


def _head() -> int | None:
    return db.session.scalar(sa.select(sa.func.max(AuditLogEntry.id)))


def _count_entries() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(AuditLogEntry)) or 0)


def test_auditor_page_says_what_is_wrong_in_chinese(demo_app: Flask) -> None:
    runner = demo_app.test_cli_runner()
    _checkpoint(runner)
    client = demo_app.test_client()
    login(client, "auditor")
    page = client.get("/auditor/").get_data(as_text=True)
    assert "审计日志链完整" in page and "最近锚点" in page
    with demo_app.app_context():
        public = checkpoints.current_signer().public_key
    assert public in page
    ids = _entry_ids(demo_app)
    _delete_entries(demo_app, ids[-2:])
    page = client.get("/auditor/").get_data(as_text=True)
    assert "审计日志链完整" not in page
    assert f"第 1 号检查点所记的条目 {ids[-1]} 已不存在" in page


def test_anchor_file_lines_are_written_only_for_committed_checkpoints(demo_app: Flask) -> None:
    with demo_app.app_context():
        anchor = checkpoints.current_signer().anchor_file
        assert anchor is not None
        before = anchor.read_text() if anchor.exists() else ""
        assert checkpoints.take(db.session) is not None
        db.session.rollback()
        assert (anchor.read_text() if anchor.exists() else "") == before
        taken = checkpoints.take(db.session)
        db.session.commit()
        assert taken is not None
        assert anchor.read_text().splitlines()[-1].startswith("{")
        assert (
            checkpoints.Checkpoint.of_dict(json.loads(anchor.read_text().splitlines()[-1])) == taken
        )


def test_finding_texts_of_the_page_are_those_of_the_cli() -> None:
    from survey.auditor import FINDING_TEXTS

    assert set(FINDING_TEXTS) == set(checkpoints.FINDING_TEXTS)
    for kind, text in FINDING_TEXTS.items():
        assert text._args[0] == checkpoints.FINDING_TEXTS[kind]  # the lazy string's msgid


def test_checkpoints_taken_while_entries_are_appended_verify(app: Flask, backend: str) -> None:
    """The worker's checkpoints and office writers at once (PostgreSQL): each checkpoint
    takes the chain's lock, so its head, count and predecessor are exact."""
    import threading

    if backend != "postgresql":
        pytest.skip("SQLite serialises writers with its database lock")
    writers, appends, taken = 3, 20, 15
    start = threading.Barrier(writers + 1)
    failures: list[BaseException] = []

    def write(number: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for count in range(appends):
                    audit.record(
                        db.session, actor=f"w{number}", action="t", object_type="t", object_id=count
                    )
                    db.session.commit()
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)

    def sign() -> None:
        try:
            with app.app_context():
                start.wait()
                for _round in range(taken):
                    checkpoints.take(db.session)
                    db.session.commit()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    threads.append(threading.Thread(target=sign))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with app.app_context():
        checkpoints.take(db.session)
        db.session.commit()
        verdict = checkpoints.verify_log(db.session)
        record_figures(
            "audit: checkpoints while entries are appended",
            backend=backend,
            parallel=writers + 1,
            inputs=writers * appends + taken,
            rows_lost=len(verdict.findings),
        )
        assert verdict.intact, [finding.text for finding in verdict.findings]
        assert verdict.entries == writers * appends
        assert verdict.newest is not None and verdict.newest.entry_count == writers * appends
