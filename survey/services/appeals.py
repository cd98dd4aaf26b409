"""Appeals (申诉) against a published result.

A unit liaison files an appeal during the 公示 period (default five working
days after publication) with a written reason and optional attachments; the
office decides within seven days with a written reason.  Upholding an appeal
produces a new snapshot, computed from the snapshot in force with the
office's corrections, that references the old one; nothing is edited in
place.  Appeals and decisions are public.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePath

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    Appeal,
    AppealAttachment,
    AppealStatus,
    Cycle,
    CycleStatus,
    ResultSnapshot,
    Unit,
)
from survey.models.base import as_utc, utc_now
from survey.services import audit, cycles, publication
from survey.services.errors import N_, Problem, ServiceError, Term, ValidationError

PUBLICITY_WORKING_DAYS = 5
DECISION_DAYS = 7
MAX_REASON_LENGTH = 5000
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: What the form promises (PDF, images, DOCX, XLSX): name suffix → the type it must contain.
ATTACHMENT_TYPES = {
    ".pdf": PDF,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".png": PNG,
    ".docx": DOCX,
    ".xlsx": XLSX,
}
#: The suffix a download of each type is named with when its own name cannot be sent.
SUFFIXES = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png", DOCX: ".docx", XLSX: ".xlsx"}
#: Leading bytes of each type that is recognised by them alone.
_SIGNATURES = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
#: DOCX and XLSX are zip packages, told apart by their main part.
_OFFICE_PARTS = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX))

#: How a corrected snapshot's reason is stored: fixed English that the API shows as it
#: is and pages translate when they show it (:func:`parse_supersede_reason`).
SUPERSEDE_REASON = "appeal {number} ({unit}) upheld: {reason}"
_SUPERSEDE_PATTERN = re.compile(r"appeal ([0-9]+) \(([^()]*)\) upheld: (.*)", re.DOTALL)


def parse_supersede_reason(text: str | None) -> tuple[int, str, str] | None:
    """(appeal number, unit code, the office's reason) of a stored reason, else None."""
    match = _SUPERSEDE_PATTERN.fullmatch(text or "")
    if match is None:
        return None
    return int(match.group(1)), match.group(2), match.group(3)


#: An appeal's status as the catalogue words it (the msgids of the results pages' labels).
APPEAL_TERMS = {
    "pending": Term(N_("Pending")),
    "upheld": Term(N_("Upheld")),
    "rejected": Term(N_("Rejected")),
}


def detect_type(data: bytes) -> str | None:
    """The MIME type ``data`` really is among :data:`ATTACHMENT_TYPES`, from its content
    (magic bytes; for DOCX and XLSX the zip's directory), or None.

    The name proves nothing: a text or HTML file named ``.pdf`` would otherwise be
    stored and served as a PDF.  Only the zip's directory is read, never a member, so
    a zip bomb costs nothing here.
    """
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    return next((kind for part, kind in _OFFICE_PARTS if part in names), None)


@dataclass(frozen=True)
class Upload:
    """An attachment as received from the form."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Correction:
    """A change the office makes when upholding an appeal: one component of one unit."""

    component: str
    unit: str
    score: float
    vetoed: bool = False


def publicity_ends(published_at: datetime, working_days: int = PUBLICITY_WORKING_DAYS) -> datetime:
    """End of the 公示 period: the end of the ``working_days``-th working day after publication.

    Working days are Monday to Friday; public holidays are not modelled.
    """
    day = as_utc(published_at).date()
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            counted += 1
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def decision_due(appeal: Appeal) -> datetime:
    """The office decides within seven days of filing."""
    return as_utc(appeal.filed_at) + timedelta(days=DECISION_DAYS)


def is_overdue(appeal: Appeal, now: datetime | None = None) -> bool:
    return appeal.status == AppealStatus.PENDING and (now or utc_now()) > decision_due(appeal)


def file_appeal(
    session: orm.Session,
    snapshot: ResultSnapshot,
    unit: Unit,
    *,
    reason: str,
    attachments: Sequence[Upload] = (),
    actor: str,
    now: datetime | None = None,
) -> Appeal:
    """File ``unit``'s appeal against ``snapshot`` (the result in force).

    Raises
    ------
    ServiceError
        Not the snapshot in force, the cycle is final, or the 公示 period is over.
    ValidationError
        Missing reason, bad attachments, or a pending appeal exists; all listed.
    """
    moment = now or utc_now()
    cycle = session.get(Cycle, snapshot.cycle_id)
    assert cycle is not None
    current = publication.latest_snapshot(session, cycle)
    if current is None or current.id != snapshot.id:
        raise ServiceError(N_("Appeals are filed against the result in force."))
    if cycle.status != CycleStatus.PUBLISHED:
        raise ServiceError(N_("The results are final; appeals are closed."))
    first = session.scalar(
        sa.select(sa.func.min(ResultSnapshot.published_at)).where(
            ResultSnapshot.cycle_id == cycle.id
        )
    )
    deadline = publicity_ends(first or snapshot.published_at)
    if moment >= deadline:
        raise ServiceError(
            N_("The publicity period is over; appeals are no longer accepted."),
            [
                Problem(
                    N_("the publicity period ended on %(date)s"),
                    parameters={"date": f"{deadline:%Y-%m-%d}"},
                )
            ],
        )
    if unit.cycle_id != cycle.id:
        raise ValidationError(N_("The unit does not belong to this cycle."))
    problems: list[Problem] = []
    reason = reason.strip()
    if not reason:
        problems.append(Problem(N_("a written reason is required"), column="reason"))
    elif len(reason) > MAX_REASON_LENGTH:
        problems.append(
            Problem(
                N_("the reason is longer than %(n)d characters"),
                column="reason",
                parameters={"n": MAX_REASON_LENGTH},
            )
        )
    if len(attachments) > MAX_ATTACHMENTS:
        problems.append(
            Problem(
                N_("at most %(n)d attachments are accepted"),
                column="attachments",
                parameters={"n": MAX_ATTACHMENTS},
            )
        )
    stored: list[AppealAttachment] = []
    for upload in attachments:
        name = PurePath(upload.filename.replace("\\", "/")).name[:255]
        suffix = PurePath(name).suffix.lower()
        if suffix not in ATTACHMENT_TYPES:
            problems.append(
                Problem(
                    N_("“%(file)s”: only %(kinds)s files are accepted"),
                    column="attachments",
                    parameters={"file": name, "kinds": ", ".join(sorted(ATTACHMENT_TYPES))},
                )
            )
            continue
        if not upload.data or len(upload.data) > MAX_ATTACHMENT_BYTES:
            problems.append(
                Problem(
                    N_("“%(file)s”: the file is empty or larger than %(mb)d MB"),
                    column="attachments",
                    parameters={"file": name, "mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)},
                )
            )
            continue
        content_type = detect_type(upload.data)
        if content_type != ATTACHMENT_TYPES[suffix]:
            expected = suffix.removeprefix(".").upper()
            problems.append(
                Problem(
                    N_(
                        "“%(file)s” is not a real %(kind)s file: its content does not match "
                        "its name, so it was not accepted"
                    ),
                    column="attachments",
                    parameters={"file": name, "kind": expected},
                )
            )
            continue
        stored.append(
            AppealAttachment(
                filename=name,
                content_type=content_type,
                size=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(),
                data=upload.data,
            )
        )
    pending = session.scalar(
        sa.select(Appeal.id).where(
            Appeal.unit_id == unit.id,
            Appeal.snapshot_id == snapshot.id,
            Appeal.status == AppealStatus.PENDING,
        )
    )
    if pending is not None:
        problems.append(
            Problem(
                N_("appeal %(number)d of this unit is still pending"),
                parameters={"number": pending},
            )
        )
    if problems:
        raise ValidationError(N_("The appeal was not filed."), problems)
    appeal = Appeal(
        snapshot_id=snapshot.id,
        unit_id=unit.id,
        reason=reason,
        filed_by=actor,
        filed_at=moment,
        attachments=stored,
    )
    session.add(appeal)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="appeal.file",
        object_type="appeal",
        object_id=appeal.id,
        details={
            "snapshot": snapshot.id,
            "unit": unit.code,
            "attachments": [item.sha256 for item in stored],
        },
    )
    return appeal


def _apply(inputs: dict[str, object], corrections: Sequence[Correction]) -> list[Problem]:
    problems: list[Problem] = []
    components = inputs["components"]
    assert isinstance(components, dict)
    for number, correction in enumerate(corrections, start=1):
        component = components.get(correction.component)
        if component is None:
            problems.append(
                Problem(
                    N_("the snapshot has no component “%(code)s”"),
                    row=number,
                    column="component",
                    parameters={"code": correction.component},
                )
            )
            continue
        values = component["values"]
        if correction.unit not in values:
            problems.append(
                Problem(
                    N_("the component has no value for the unit “%(code)s”"),
                    row=number,
                    column="unit",
                    parameters={"code": correction.unit},
                )
            )
            continue
        if not math.isfinite(correction.score) or not 0 <= correction.score <= 100:
            problems.append(
                Problem(
                    N_("%(score)s is outside 0–100"),
                    row=number,
                    column="score",
                    parameters={"score": f"{correction.score:g}"},
                )
            )
            continue
        values[correction.unit] = {
            **values[correction.unit],
            "score": correction.score,
            "vetoed": correction.vetoed,
        }
    return problems


def decide_appeal(
    session: orm.Session,
    appeal: Appeal,
    *,
    upheld: bool,
    reason: str,
    actor: str,
    corrections: Sequence[Correction] = (),
    now: datetime | None = None,
) -> Appeal:
    """Record the office's decision; an upheld appeal publishes a corrected snapshot.

    Raises
    ------
    ServiceError
        The appeal was already decided.
    ValidationError
        Missing written reason or bad corrections; nothing is changed.
    """
    if appeal.status != AppealStatus.PENDING:
        raise ServiceError(
            N_("Appeal %(number)d was already decided (%(status)s)."),
            parameters={"number": appeal.id, "status": APPEAL_TERMS[appeal.status.value]},
        )
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            N_("The decision needs a written reason."),
            [Problem(N_("required"), column="reason")],
        )
    if corrections and not upheld:
        raise ValidationError(N_("A rejected appeal changes no score."))
    cycle = session.get(Cycle, appeal.snapshot.cycle_id)
    assert cycle is not None
    if upheld:
        current = publication.latest_snapshot(session, cycle)
        assert current is not None
        inputs = json.loads(current.content)["inputs"]
        problems = _apply(inputs, corrections)
        if problems:
            raise ValidationError(
                N_("The corrections are not valid; nothing was changed."), problems
            )
        inputs.setdefault("appeals", []).append(
            {
                "appeal": appeal.id,
                "unit": appeal.unit.code,
                "decision": reason,
                "corrections": [
                    {
                        "component": item.component,
                        "unit": item.unit,
                        "score": item.score,
                        "vetoed": item.vetoed,
                    }
                    for item in corrections
                ],
            }
        )
        replacement = publication.supersede(
            session,
            current,
            inputs,
            actor=actor,
            reason=SUPERSEDE_REASON.format(number=appeal.id, unit=appeal.unit.code, reason=reason),
        )
        appeal.resulting_snapshot_id = replacement.id
    appeal.status = AppealStatus.UPHELD if upheld else AppealStatus.REJECTED
    appeal.decided_by = actor
    appeal.decided_at = now or utc_now()
    appeal.decision_reason = reason
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="appeal.decide",
        object_type="appeal",
        object_id=appeal.id,
        details={
            "status": appeal.status.value,
            "reason": reason,
            "resulting_snapshot": appeal.resulting_snapshot_id,
            "overdue": as_utc(appeal.decided_at) > decision_due(appeal),
        },
    )
    return appeal


def cycle_appeals(session: orm.Session, cycle: Cycle) -> list[Appeal]:
    """Every appeal of the cycle, oldest first (public history)."""
    return list(
        session.scalars(
            sa.select(Appeal)
            .join(ResultSnapshot, Appeal.snapshot_id == ResultSnapshot.id)
            .where(ResultSnapshot.cycle_id == cycle.id)
            .order_by(Appeal.filed_at, Appeal.id)
        )
    )


def finalize(
    session: orm.Session, cycle: Cycle, *, actor: str, now: datetime | None = None
) -> None:
    """Make the result final (定案) once the 公示 period is over and no appeal is pending."""
    snapshot = publication.latest_snapshot(session, cycle)
    if snapshot is None or cycle.status != CycleStatus.PUBLISHED:
        raise ServiceError(N_("Only a published cycle can be made final."))
    first = session.scalar(
        sa.select(sa.func.min(ResultSnapshot.published_at)).where(
            ResultSnapshot.cycle_id == cycle.id
        )
    )
    if (now or utc_now()) < publicity_ends(first or snapshot.published_at):
        raise ServiceError(N_("The publicity period is not over yet."))
    pending = [appeal.id for appeal in cycle_appeals(session, cycle) if appeal.status == "pending"]
    if pending:
        raise ServiceError(
            N_("Appeals are still pending."),
            [Problem(N_("appeal %(number)d"), parameters={"number": number}) for number in pending],
        )
    cycles.transition_cycle(session, cycle, CycleStatus.FINAL, actor=actor)
