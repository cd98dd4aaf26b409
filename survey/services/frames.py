"""Sampling frames, the do-not-call list, verifiable draws and reserve releases.

The arithmetic (allocation, selection, digests, protocols) is ``sampling.design``;
this module moves data between it and the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import orm

from sampling.design.allocation import Allocation, AllocationMethod
from sampling.design.draw import DrawDesign, Protocol, allocate_for_frame, draw, frame_from_rows
from sampling.design.frame import Frame
from sampling.design.size import required_sample_size
from sampling.errors import SamplingError
from survey.models import (
    Cycle,
    DoNotCallEntry,
    DoNotCallSource,
    FieldworkCase,
    FrameContact,
    FrameStatus,
    RaterGroup,
    SampleDraw,
    SamplingFrame,
)
from survey.models.base import as_utc, utc_now
from survey.privacy import InvalidPhoneNumber, Vault, normalise_phone
from survey.services import audit
from survey.services.errors import (
    N_,
    NotEditableError,
    Problem,
    ServiceError,
    ValidationError,
)
from survey.services.tabular import Field, header_key, looks_like_formula, match_header, open_sheet

#: Rows inserted per statement while streaming an import.
BATCH_SIZE = 5_000
#: Stop listing problems after this many; the file is rejected anyway.
MAX_PROBLEMS = 200

STRATUM_SEPARATOR = " | "


@dataclass(frozen=True)
class FrameColumns:
    """Which file columns play which role: typed by the pollster, or blank to have
    them found by their headers (:data:`FRAME_FIELDS`)."""

    id_column: str = ""
    phone_column: str = ""
    strata_columns: tuple[str, ...] = ()
    size_column: str | None = None


#: Header spellings of a frame's roles, Chinese first.  Any column whose header is a
#: stratum spelling is a stratum when the pollster names none.
FRAME_FIELDS = {
    "id": Field("id", ("编号", "序号", "样本编号", "id"), required=True),
    "phone": Field(
        "phone",
        ("手机号码", "手机号", "手机", "电话", "联系电话", "电话号码", "phone", "mobile"),
        required=True,
    ),
    "size": Field("size", ("规模", "人数", "size")),
}
STRATUM_SYNONYMS = (
    "区县", "区", "县", "街道", "乡镇", "镇", "年龄段", "年龄组", "性别",
    "district", "county", "street", "township", "age", "age_group", "gender", "stratum",
)  # fmt: skip


def _column_index(header: Sequence[str], name: str, filename: str, row: int) -> int:
    wanted = header_key(name)
    for index, cell in enumerate(header):
        if header_key(cell) == wanted:
            return index
    available = "、".join(cell for cell in header if cell) or "—"
    raise ValidationError(
        N_("%(file)s: no column named %(column)s"),
        [
            Problem(
                N_("no column %(column)s; the columns are: %(columns)s"),
                row=row,
                parameters={"column": f"“{name}”", "columns": available},
            )
        ],
        parameters={"file": filename, "column": f"“{name}”"},
    )


def resolve_columns(
    filename: str, header_row: int, header: Sequence[str], typed: FrameColumns
) -> FrameColumns:
    """The columns of ``header`` for each role, named as in the file.

    Roles the pollster typed are looked up (case- and width-insensitively); the
    others are found by their header spellings, and two columns for one role are
    refused with both named.
    """
    wanted = [
        field
        for key, field in FRAME_FIELDS.items()
        if not {"id": typed.id_column, "phone": typed.phone_column, "size": typed.size_column}[key]
    ]
    found = match_header(filename, header_row, header, wanted)

    def typed_or_found(name: str | None, key: str) -> str | None:
        if name and name.strip():
            return header[_column_index(header, name, filename, header_row)]
        return header[found[key]] if key in found else None

    strata = tuple(
        header[_column_index(header, name, filename, header_row)]
        for name in typed.strata_columns
        if name.strip()
    ) or tuple(cell for cell in header if Field("stratum", STRATUM_SYNONYMS).matches(cell))
    if not strata:
        raise ValidationError(
            N_("choose at least one stratum column"),
            [
                Problem(
                    N_("no stratum column found (headers it may have: %(synonyms)s)"),
                    column="strata_columns",
                    parameters={"synonyms": "、".join(STRATUM_SYNONYMS)},
                )
            ],
        )
    return FrameColumns(
        id_column=typed_or_found(typed.id_column, "id") or "",
        phone_column=typed_or_found(typed.phone_column, "phone") or "",
        strata_columns=strata,
        size_column=typed_or_found(typed.size_column, "size"),
    )


def frame_columns(
    filename: str, data: bytes, typed: FrameColumns, encoding: str = "auto"
) -> FrameColumns:
    """The roles of ``data``'s columns (for the preview page)."""
    sheet = open_sheet(filename, data, encoding)
    return resolve_columns(filename, sheet.header_row, sheet.header, typed)


def import_frame(
    session: orm.Session,
    vault: Vault,
    cycle: Cycle,
    rater_group: RaterGroup,
    *,
    name: str,
    filename: str,
    data: bytes,
    columns: FrameColumns,
    actor: str,
    encoding: str = "auto",
    default_region: str = "CN",
    progress: Callable[[int], None] | None = None,
) -> SamplingFrame:
    """Import a frame from CSV/XLSX, all or nothing.

    Numbers are normalised with ``phonenumbers``, encrypted, and hashed with the
    keyed hash; numbers on the do-not-call list are left out (and counted).
    Missing or invalid numbers, duplicate ids or numbers, and missing stratum
    values are reported with row and column; then the caller rolls back.
    """
    if rater_group.cycle_id != cycle.id:
        raise ValidationError(N_("The rater group belongs to another cycle."))
    if not name.strip():
        raise ValidationError(
            N_("the frame needs a name"), [Problem(N_("required"), column="name")]
        )
    if session.scalar(
        sa.select(SamplingFrame.id).where(
            SamplingFrame.cycle_id == cycle.id, SamplingFrame.name == name.strip()
        )
    ):
        raise ValidationError(
            N_("a frame named %(name)s exists in this cycle"),
            [Problem(N_("already used"), column="name")],
            parameters={"name": repr(name.strip())},
        )
    sheet = open_sheet(filename, data, encoding)
    header_row, header = sheet.header_row, sheet.header
    columns = resolve_columns(filename, header_row, header, columns)
    id_index = _column_index(header, columns.id_column, filename, header_row)
    phone_index = _column_index(header, columns.phone_column, filename, header_row)
    strata_indexes = [
        _column_index(header, c, filename, header_row) for c in columns.strata_columns
    ]
    size_index = (
        _column_index(header, columns.size_column, filename, header_row)
        if columns.size_column
        else None
    )

    frame = SamplingFrame(
        cycle_id=cycle.id,
        rater_group_id=rater_group.id,
        name=name.strip(),
        source_filename=filename,
        strata_columns=STRATUM_SEPARATOR.join(columns.strata_columns),
        imported_by=actor,
        status=FrameStatus.IMPORTED,
    )
    session.add(frame)
    session.flush()
    do_not_call = set(session.scalars(sa.select(DoNotCallEntry.phone_hash)))
    seen_ids: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    problems: list[Problem] = []
    batch: list[dict[str, object]] = []
    position = excluded = 0

    def cell(cells: list[str], index: int) -> str:
        return cells[index].strip()

    for number, cells in sheet.body():
        row_problems: list[Problem] = []
        external_id = cell(cells, id_index)
        if not external_id:
            row_problems.append(Problem(N_("the id is missing"), number, columns.id_column))
        elif looks_like_formula(external_id):
            # Refused like strata: exports would have to neutralise it with a "'",
            # and the frame hash re-computed from an export would then differ.
            row_problems.append(
                Problem(N_("looks like a spreadsheet formula"), number, columns.id_column)
            )
        elif external_id in seen_ids:
            row_problems.append(
                Problem(
                    N_("duplicate id %(id)s (also in row %(other)d)"),
                    number,
                    columns.id_column,
                    {"id": repr(external_id), "other": seen_ids[external_id]},
                )
            )
        else:
            seen_ids[external_id] = number
        phone_hash = encrypted = ""
        raw_phone = cell(cells, phone_index)
        try:
            phone = normalise_phone(raw_phone, default_region)
        except InvalidPhoneNumber:
            row_problems.append(
                Problem(N_("the phone number is missing"), number, columns.phone_column)
                if not raw_phone
                else Problem(
                    N_("%(value)s is not a valid phone number"),
                    number,
                    columns.phone_column,
                    {"value": repr(raw_phone[:40])},
                )
            )
        else:
            phone_hash = vault.phone_hash(phone)
            if phone_hash in seen_phones:
                row_problems.append(
                    Problem(
                        N_("duplicate phone number (also in row %(other)d)"),
                        number,
                        columns.phone_column,
                        {"other": seen_phones[phone_hash]},
                    )
                )
            else:
                seen_phones[phone_hash] = number
                encrypted = vault.encrypt(phone.e164)
        parts = []
        for column_name, index in zip(columns.strata_columns, strata_indexes, strict=True):
            value = cell(cells, index)
            if not value:
                row_problems.append(
                    Problem(N_("the stratum value is missing"), number, column_name)
                )
            elif looks_like_formula(value):
                row_problems.append(
                    Problem(N_("looks like a spreadsheet formula"), number, column_name)
                )
            parts.append(value)
        size: str | None = None
        if size_index is not None:
            size = cell(cells, size_index)
            try:
                if not float(size) > 0:
                    raise ValueError
            except ValueError:
                row_problems.append(
                    Problem(
                        N_("the size must be a positive number, not %(value)s"),
                        number,
                        columns.size_column,
                        {"value": repr(size)},
                    )
                )
        if row_problems:
            problems.extend(row_problems)
            if len(problems) + len(sheet.problems) >= MAX_PROBLEMS:
                break
            continue
        if phone_hash in do_not_call:
            excluded += 1
            continue
        if problems or sheet.problems:
            continue  # rejected anyway: keep checking, stop writing
        batch.append(
            {
                "frame_id": frame.id,
                "position": position,
                "external_id": external_id,
                "stratum": STRATUM_SEPARATOR.join(parts),
                "phone_encrypted": encrypted,
                "phone_hash": phone_hash,
                "size_measure": size,
            }
        )
        position += 1
        if len(batch) >= BATCH_SIZE:
            session.execute(sa.insert(FrameContact), batch)
            batch.clear()
            if progress:
                progress(position)
    problems = sorted([*sheet.problems, *problems], key=lambda p: p.row or 0)
    if len(problems) >= MAX_PROBLEMS:
        raise ValidationError(
            N_("%(file)s: %(count)d problem(s) (listing stops there); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
        )
    if problems:
        raise ValidationError(
            N_("%(file)s: %(count)d problem(s); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
        )
    if batch:
        session.execute(sa.insert(FrameContact), batch)
    if position == 0:
        raise ValidationError(
            N_("%(file)s: no usable rows; nothing was imported"), parameters={"file": filename}
        )
    if progress:
        progress(position)
    frame.row_count = position
    frame.excluded_do_not_call = excluded
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="frame.import",
        object_type="sampling_frame",
        object_id=frame.id,
        details={
            "name": frame.name,
            "file": filename,
            "rows": position,
            "excluded_do_not_call": excluded,
        },
    )
    return frame


def delete_frame(session: orm.Session, frame: SamplingFrame, *, actor: str) -> None:
    """Remove a frame that is not locked yet (to re-import a corrected file)."""
    if frame.status != FrameStatus.IMPORTED:
        raise NotEditableError(N_("A locked frame cannot be deleted: its hash may be published."))
    session.execute(sa.delete(FrameContact).where(FrameContact.frame_id == frame.id))
    audit.record(
        session,
        actor=actor,
        action="frame.delete",
        object_type="sampling_frame",
        object_id=frame.id,
        details={"name": frame.name},
    )
    session.delete(frame)
    session.flush()


def _contacts(session: orm.Session, frame: SamplingFrame) -> list[tuple[int, str, str, str | None]]:
    return [
        (row.id, row.external_id, row.stratum, row.size_measure)
        for row in session.execute(
            sa.select(
                FrameContact.id,
                FrameContact.external_id,
                FrameContact.stratum,
                FrameContact.size_measure,
            )
            .where(FrameContact.frame_id == frame.id)
            .order_by(FrameContact.position)
        )
    ]


def _frame_object(contacts: Sequence[tuple[int, str, str, str | None]]) -> Frame:
    sizes = [c[3] for c in contacts]
    return frame_from_rows(
        [c[1] for c in contacts],
        [c[2] for c in contacts],
        None if all(s is None for s in sizes) else [s or "" for s in sizes],
    )


def lock_frame(session: orm.Session, frame: SamplingFrame, *, actor: str) -> SamplingFrame:
    """Freeze the frame and compute its canonical SHA-256 (publish it before the seed)."""
    if frame.status != FrameStatus.IMPORTED:
        raise NotEditableError("the frame is already locked")
    contacts = _contacts(session, frame)
    try:
        digest = _frame_object(contacts).sha256()
    except SamplingError as error:
        raise ValidationError(
            N_("The frame cannot be locked: %(reason)s"), parameters={"reason": error}
        ) from None
    frame.sha256 = digest
    frame.status = FrameStatus.LOCKED
    frame.locked_at = utc_now()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="frame.lock",
        object_type="sampling_frame",
        object_id=frame.id,
        details={"sha256": digest, "rows": len(contacts)},
    )
    return frame


def strata_populations(session: orm.Session, frame: SamplingFrame) -> dict[str, int]:
    """``N_h`` per stratum, by stratum name."""
    rows = session.execute(
        sa.select(FrameContact.stratum, sa.func.count())
        .where(FrameContact.frame_id == frame.id)
        .group_by(FrameContact.stratum)
        .order_by(FrameContact.stratum)
    )
    return {stratum: int(count) for stratum, count in rows}


@dataclass(frozen=True)
class AllocationPlan:
    """What the pollster sees before drawing."""

    allocation: Allocation
    response_rate: float
    request: dict[str, object]

    @property
    def rows(self) -> list[tuple[str, int, int, float]]:
        """(stratum, N_h, n_h, expected completes)."""
        return [
            (name, population, size, size * self.response_rate)
            for name, population, size in zip(
                self.allocation.strata,
                self.allocation.population,
                self.allocation.sample_size,
                strict=True,
            )
        ]


def plan_allocation(
    session: orm.Session,
    frame: SamplingFrame,
    *,
    method: str,
    total: int | None = None,
    margin: float | None = None,
    confidence: float = 0.95,
    response_rate: float = 1.0,
    minimum: int = 0,
    design_effect: float = 1.0,
) -> AllocationPlan:
    """Allocate a total ``n`` (given, or from a target margin per stratum) over the strata.

    With ``margin`` each stratum needs the sample size for that margin at its own
    ``N_h`` (Cochran 1977 eq. 4.3, p = 0.5), inflated for design effect and
    response rate; the allocation then spreads their sum by ``method``.
    """
    populations = strata_populations(session, frame)
    problems = []
    if not 0 < response_rate <= 1:
        problems.append(Problem(N_("above 0 and at most 1"), column="response_rate"))
    if (total is None) == (margin is None):
        problems.append(Problem(N_("give either the total n or the target margin"), column="total"))
    if problems:
        raise ValidationError(N_("The design is not valid."), problems)
    try:
        if margin is not None:
            total = sum(
                min(
                    population,
                    required_sample_size(
                        margin,
                        confidence,
                        proportion=0.5,
                        population=population,
                        design_effect=design_effect,
                        response_rate=response_rate,
                    ).n,
                )
                for population in populations.values()
            )
        assert total is not None
        contacts_frame = _frame_object(_contacts(session, frame))
        allocation = allocate_for_frame(
            contacts_frame, total, AllocationMethod(method), minimum=minimum
        )
    except SamplingError as error:
        raise ValidationError(
            N_("The sample cannot be allocated: %(reason)s"), parameters={"reason": error}
        ) from None
    except ValueError as error:
        raise ValidationError(str(error)) from None
    request: dict[str, object] = {
        "method": method,
        "total": total,
        "margin": margin,
        "confidence": confidence,
        "response_rate": response_rate,
        "minimum": minimum,
        "design_effect": design_effect,
    }
    return AllocationPlan(allocation=allocation, response_rate=response_rate, request=request)


@dataclass(frozen=True)
class SeedSource:
    """Where a draw's seed was announced (随机数种子来源), e.g. a lottery draw.

    ``event_date`` is the local day (in ``zone``, the cycle's time zone) on which
    the source made the numbers public.  It may not precede the day the frame was
    locked: a seed known before the frame's hash was published could have been
    used to choose the frame.
    """

    name: str
    event_date: date
    zone: ZoneInfo


def _check_seed_source(frame: SamplingFrame, source: SeedSource) -> list[Problem]:
    problems: list[Problem] = []
    if not source.name.strip():
        problems.append(Problem(N_("name the public source of the seed"), column="seed_source"))
    elif len(source.name.strip()) > 200:
        problems.append(Problem(N_("at most 200 characters"), column="seed_source"))
    assert frame.locked_at is not None  # a locked frame has its time (named CHECK)
    locked_on = as_utc(frame.locked_at).astimezone(source.zone).date()
    today = utc_now().astimezone(source.zone).date()
    if source.event_date < locked_on:
        problems.append(
            Problem(
                N_("the seed's public event must not be before the frame was locked"),
                column="seed_event_date",
            )
        )
    elif source.event_date > today:
        problems.append(
            Problem(N_("the seed's public event cannot be in the future"), column="seed_event_date")
        )
    return problems


def draw_sample(
    session: orm.Session,
    frame: SamplingFrame,
    plan: AllocationPlan,
    *,
    seed: str,
    reserve_batches: int,
    actor: str,
    seed_source: SeedSource | None = None,
) -> SampleDraw:
    """Draw from a locked frame and create the fieldwork cases.

    The main sample (replicate 0) is released at once; reserve batches wait for
    :func:`release_reserve`.  Each case gets a token from :mod:`secrets`.
    ``seed_source`` (required on the pollster's page and command) is checked
    against the frame's lock time and recorded in the draw and its protocol.
    """
    if frame.status != FrameStatus.LOCKED:
        raise NotEditableError(
            N_("Lock the frame (and publish its hash) before drawing.")
            if frame.status == FrameStatus.IMPORTED
            else N_("A sample was already drawn from this frame.")
        )
    if not seed.strip():
        raise ValidationError(N_("The seed is required."), [Problem(N_("required"), column="seed")])
    provenance: dict[str, str] | None = None
    if seed_source is not None:
        problems = _check_seed_source(frame, seed_source)
        if problems:
            raise ValidationError(N_("The seed's source cannot be accepted."), problems)
        assert frame.locked_at is not None
        provenance = {
            "source": seed_source.name.strip(),
            "event_date": seed_source.event_date.isoformat(),
            "time_zone": seed_source.zone.key,
            "frame_locked_at": as_utc(frame.locked_at).isoformat(timespec="seconds"),
        }
    contacts = _contacts(session, frame)
    try:
        frame_object = _frame_object(contacts)
        design = DrawDesign.build(plan.allocation, reserve_batches=reserve_batches)
        result = draw(frame_object, design, seed.strip())
    except SamplingError as error:
        raise ValidationError(
            N_("The sample cannot be drawn: %(reason)s"), parameters={"reason": error}
        ) from None
    if result.frame_sha256 != frame.sha256:
        raise ServiceError("the frame changed after it was locked; refusing to draw")
    protocol = Protocol.from_result(
        result, frame_object, allocation_request=plan.request, seed_provenance=provenance
    )
    sample_draw = SampleDraw(
        frame_id=frame.id,
        seed=seed.strip(),
        seed_source=provenance["source"] if provenance else None,
        seed_event_date=seed_source.event_date if seed_source else None,
        algorithm_version=result.algorithm_version,
        sample_size=design.sample_size,
        reserve_batches=reserve_batches,
        sample_sha256=result.sample_sha256,
        protocol_json=protocol.to_json(),
        drawn_by=actor,
    )
    session.add(sample_draw)
    session.flush()
    now = utc_now()
    cases = [
        {
            "cycle_id": frame.cycle_id,
            "draw_id": sample_draw.id,
            "contact_id": contacts[int(position)][0],
            "token": secrets.token_urlsafe(16),
            "stratum": contacts[int(position)][2],
            "replicate": int(replicate),
            "inclusion_probability": float(probability),
            "design_weight": float(weight),
            "released": int(replicate) == 0,
            "released_at": now if int(replicate) == 0 else None,
        }
        for position, replicate, probability, weight in zip(
            result.rows,
            result.replicate,
            result.inclusion_probability,
            result.design_weight,
            strict=True,
        )
    ]
    for start in range(0, len(cases), BATCH_SIZE):
        session.execute(sa.insert(FieldworkCase), cases[start : start + BATCH_SIZE])
    frame.status = FrameStatus.DRAWN
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="sample.draw",
        object_type="sample_draw",
        object_id=sample_draw.id,
        details={
            "frame_sha256": frame.sha256,
            "seed": sample_draw.seed,
            "seed_source": provenance,
            "sample_sha256": result.sample_sha256,
            "n": design.sample_size,
            "reserve_batches": reserve_batches,
        },
    )
    return sample_draw


def release_reserve(
    session: orm.Session, sample_draw: SampleDraw, stratum: str, *, actor: str
) -> int:
    """Release the next reserve batch of ``stratum``; returns its replicate number."""
    next_batch = session.scalar(
        sa.select(sa.func.min(FieldworkCase.replicate)).where(
            FieldworkCase.draw_id == sample_draw.id,
            FieldworkCase.stratum == stratum,
            FieldworkCase.replicate > 0,
            FieldworkCase.released.is_(False),
        )
    )
    if next_batch is None:
        raise ServiceError(
            N_("The stratum “%(stratum)s” has no reserve batch left."),
            parameters={"stratum": stratum},
        )
    count = session.execute(
        sa.update(FieldworkCase)
        .where(
            FieldworkCase.draw_id == sample_draw.id,
            FieldworkCase.stratum == stratum,
            FieldworkCase.replicate == next_batch,
        )
        .values(released=True, released_at=utc_now())
    ).rowcount  # type: ignore[attr-defined]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="sample.release_reserve",
        object_type="sample_draw",
        object_id=sample_draw.id,
        details={"stratum": stratum, "replicate": next_batch, "cases": count},
    )
    return int(next_batch)


def draw_summary(session: orm.Session, sample_draw: SampleDraw) -> list[dict[str, object]]:
    """Per stratum: cases per replicate and how many are released."""
    rows = session.execute(
        sa.select(
            FieldworkCase.stratum, FieldworkCase.replicate, FieldworkCase.released, sa.func.count()
        )
        .where(FieldworkCase.draw_id == sample_draw.id)
        .group_by(FieldworkCase.stratum, FieldworkCase.replicate, FieldworkCase.released)
        .order_by(FieldworkCase.stratum, FieldworkCase.replicate)
    )
    summary: dict[str, dict[str, object]] = {}
    for stratum, replicate, released, count in rows:
        entry = summary.setdefault(
            stratum, {"stratum": stratum, "main": 0, "released_batches": 0, "reserve_left": 0}
        )
        if replicate == 0:
            entry["main"] = int(count)
        elif released:
            entry["released_batches"] = int(entry["released_batches"]) + 1  # type: ignore[call-overload]
        else:
            entry["reserve_left"] = int(entry["reserve_left"]) + 1  # type: ignore[call-overload]
    return list(summary.values())


def add_do_not_call(
    session: orm.Session,
    vault: Vault,
    numbers: Iterable[str],
    *,
    source: DoNotCallSource,
    actor: str,
) -> int:
    """Add numbers to the do-not-call list (all or nothing); returns how many were new."""
    problems = []
    hashes = []
    for index, raw in enumerate(numbers, start=1):
        if not raw.strip():
            continue
        try:
            hashes.append(vault.phone_hash(normalise_phone(raw)))
        except InvalidPhoneNumber:
            problems.append(
                Problem(
                    N_("%(value)s is not a valid phone number"),
                    row=index,
                    parameters={"value": repr(raw.strip()[:40])},
                )
            )
    if problems:
        raise ValidationError(
            N_("%(n)d invalid number(s); nothing was added."),
            problems,
            parameters={"n": len(problems)},
        )
    existing = set(
        session.scalars(
            sa.select(DoNotCallEntry.phone_hash).where(DoNotCallEntry.phone_hash.in_(hashes))
        )
    )
    new = sorted(set(hashes) - existing)
    for digest in new:
        session.add(DoNotCallEntry(phone_hash=digest, source=source, added_by=actor))
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="do_not_call.add",
        object_type="do_not_call",
        details={"added": len(new), "source": source.value},
    )
    return len(new)


def verification_frame_rows(session: orm.Session, frame: SamplingFrame) -> list[list[object]]:
    """The frame's canonical columns, header first, without phone numbers.

    With the protocol and :func:`sample_rows` this is all an auditor needs for
    ``python -m sampling verify``.
    """
    query = (
        sa.select(FrameContact.external_id, FrameContact.stratum, FrameContact.size_measure)
        .where(FrameContact.frame_id == frame.id)
        .order_by(FrameContact.position)
    )
    rows = list(session.execute(query))
    with_size = any(size is not None for _id, _stratum, size in rows)
    header: list[object] = ["id", "stratum", "size"] if with_size else ["id", "stratum"]
    body: list[list[object]] = [[i, s, z] if with_size else [i, s] for i, s, z in rows]
    return [header, *body]


def sample_rows(session: orm.Session, sample_draw: SampleDraw) -> list[list[object]]:
    """The drawn sample without contact data, header first (replicate, then frame order)."""
    query = (
        sa.select(
            FrameContact.external_id,
            FieldworkCase.stratum,
            FieldworkCase.inclusion_probability,
            FieldworkCase.design_weight,
            FieldworkCase.replicate,
        )
        .join(FrameContact, FieldworkCase.contact_id == FrameContact.id)
        .where(FieldworkCase.draw_id == sample_draw.id)
        .order_by(FieldworkCase.replicate, FrameContact.position)
    )
    header: list[object] = ["id", "stratum", "inclusion_probability", "design_weight", "replicate"]
    # repr() keeps every digit of the floats, so the file round-trips exactly.
    body: list[list[object]] = [
        [i, s, repr(p), repr(w), r] for i, s, p, w, r in session.execute(query)
    ]
    return [header, *body]
