"""Publication (公示): immutable result snapshots, their verification and corrections.

A snapshot is the canonical JSON of ``{"audit_checkpoint", "format", "inputs",
"outputs"}``: sorted keys, no spaces, UTF-8, no NaN.  ``audit_checkpoint`` is the
signed checkpoint of the audit log taken just before
(:mod:`survey.services.checkpoints`).  Its SHA-256 is stored next to it and printed on
the public page.  Anyone holding the JSON can re-compute the
outputs from the inputs (:func:`verify_content`, ``minyi results verify``)
and compare.  Snapshots are never changed: the database refuses updates and
deletes (triggers in migration 0006), no route edits one, and a correction
after an appeal is a new snapshot whose ``supersedes_id`` names the old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import Cycle, CycleStatus, ResultSnapshot
from survey.services import audit, checkpoints, cycles, scoring
from survey.services.errors import N_, ServiceError, ValidationError, status_term
from survey.services.scoring import canonical_json


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def latest_snapshot(session: orm.Session, cycle: Cycle) -> ResultSnapshot | None:
    """The snapshot in force for ``cycle`` (the highest version)."""
    return session.scalar(
        sa.select(ResultSnapshot)
        .where(ResultSnapshot.cycle_id == cycle.id)
        .order_by(ResultSnapshot.version.desc())
        .limit(1)
    )


def snapshot_data(snapshot: ResultSnapshot) -> dict[str, Any]:
    data = json.loads(snapshot.content)
    assert isinstance(data, dict)
    return data


def _store(
    session: orm.Session,
    cycle: Cycle,
    inputs: dict[str, Any],
    *,
    actor: str,
    reason: str,
    supersedes: ResultSnapshot | None,
) -> ResultSnapshot:
    # The inputs' format decides the computation: a correction of a snapshot
    # published under an older format is computed, and stored, as that format.
    outputs = scoring.compute_outputs(inputs)
    data: dict[str, Any] = {"format": outputs["format"], "inputs": inputs, "outputs": outputs}
    # The snapshot carries a signed checkpoint of the audit log as it stood before
    # the publication: whoever holds a copy can show later what the log held then.
    anchor = checkpoints.take(session)
    if anchor is not None:
        data["audit_checkpoint"] = anchor.as_dict()
    content = canonical_json(data)
    snapshot = ResultSnapshot(
        cycle_id=cycle.id,
        version=(supersedes.version + 1) if supersedes else 1,
        supersedes_id=supersedes.id if supersedes else None,
        rules_version=outputs["format"],
        content=content,
        sha256=sha256_text(content),
        reason=reason,
        published_by=actor,
    )
    session.add(snapshot)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="results.publish",
        object_type="result_snapshot",
        object_id=snapshot.id,
        details={
            "cycle": cycle.id,
            "version": snapshot.version,
            "sha256": snapshot.sha256,
            "supersedes": snapshot.supersedes_id,
            "reason": reason,
        },
    )
    checkpoints.take(session)
    return snapshot


def publish(
    session: orm.Session,
    cycle: Cycle,
    *,
    actor: str,
    rules: scoring.ResultRules | None = None,
    decisions: Mapping[str, str] | None = None,
) -> ResultSnapshot:
    """Compute and freeze the first published result of a closed cycle.

    ``decisions`` maps the code of each unit with rater groups below the
    minimum to the office's written decision (e.g. "redistribution accepted").

    Raises
    ------
    ServiceError
        The cycle is not closed or already has a snapshot.
    ValidationError
        Missing components or undecided units, all listed; nothing is stored.
    """
    if cycle.status != CycleStatus.CLOSED:
        raise ServiceError(
            N_("Only a closed cycle can be published (this one is %(status)s)."),
            parameters={"status": status_term(cycle.status)},
        )
    if latest_snapshot(session, cycle) is not None:
        raise ServiceError(
            N_("This cycle already has a published snapshot; upheld appeals create new ones.")
        )
    inputs = scoring.gather_inputs(
        session, cycle, rules or scoring.rules_for(cycle), decisions=decisions
    )
    problems = scoring.scoring_problems(inputs)
    if problems:
        units = {unit.code: unit.name for unit in cycle.units}
        groups = {group.code: group.name for group in cycle.rater_groups}
        components = {component.code: component.name for component in cycle.components}
        raise ValidationError(
            N_("The results cannot be published: %(count)d problems."),
            [problem.problem(units, groups, components) for problem in problems],
            parameters={"count": len(problems)},
        )
    snapshot = _store(session, cycle, inputs, actor=actor, reason="", supersedes=None)
    cycles.transition_cycle(session, cycle, CycleStatus.PUBLISHED, actor=actor)
    return snapshot


def supersede(
    session: orm.Session,
    snapshot: ResultSnapshot,
    inputs: dict[str, Any],
    *,
    actor: str,
    reason: str,
) -> ResultSnapshot:
    """A corrected result (after an upheld appeal) that references ``snapshot``."""
    cycle = session.get(Cycle, snapshot.cycle_id)
    assert cycle is not None
    current = latest_snapshot(session, cycle)
    if current is None or current.id != snapshot.id:
        raise ServiceError(N_("Only the snapshot in force can be superseded."))
    if not reason.strip():
        raise ValidationError(N_("A corrected result needs a written reason."))
    return _store(session, cycle, inputs, actor=actor, reason=reason.strip(), supersedes=snapshot)


@dataclass(frozen=True)
class Verification:
    """Outcome of re-computing a snapshot from its inputs."""

    sha256: str
    sha256_matches: bool | None
    """Whether the content hashes to the stored SHA-256 (None: nothing to compare with)."""
    differences: tuple[str, ...] = field(default_factory=tuple)

    @property
    def identical(self) -> bool:
        return not self.differences and self.sha256_matches is not False


def _identity_key(*lists: list[Any]) -> str | None:
    """A field that names every entry uniquely in each list (unit, group …)."""
    for key in ("unit", "group", "component", "code"):
        if all(
            entries
            and all(isinstance(entry, dict) and key in entry for entry in entries)
            and len({str(entry[key]) for entry in entries}) == len(entries)
            for entries in lists
        ):
            return key
    return None


def _differences(stored: Any, recomputed: Any, path: str, found: list[str]) -> None:
    if len(found) >= 20:
        return
    if isinstance(stored, dict) and isinstance(recomputed, dict):
        for key in sorted(set(stored) | set(recomputed)):
            _differences(stored.get(key), recomputed.get(key), f"{path}.{key}", found)
    elif isinstance(stored, list) and isinstance(recomputed, list):
        identity = _identity_key(stored, recomputed)
        if identity is not None:
            # Match entries by what they are (unit, group …), not by position:
            # a changed score reorders the ranking, which is not itself a finding.
            left = {entry[identity]: entry for entry in stored}
            right = {entry[identity]: entry for entry in recomputed}
            for key in sorted(set(left) | set(right), key=str):
                _differences(left.get(key), right.get(key), f"{path}[{key}]", found)
            order_left = [entry[identity] for entry in stored]
            order_right = [entry[identity] for entry in recomputed]
            if order_left != order_right and set(order_left) == set(order_right):
                found.append(f"{path}: order {order_left} stored, {order_right} recomputed")
            return
        if len(stored) != len(recomputed):
            found.append(f"{path}: {len(stored)} entries stored, {len(recomputed)} recomputed")
            return
        for index, (left, right) in enumerate(zip(stored, recomputed, strict=True)):
            _differences(left, right, f"{path}[{index}]", found)
    elif stored != recomputed:
        found.append(f"{path}: stored {stored!r}, recomputed {recomputed!r}")


def verify_content(content: str, expected_sha256: str | None = None) -> Verification:
    """Re-compute the outputs of a snapshot's JSON from its inputs and compare.

    Raises
    ------
    ValidationError
        The text is not a minyi results snapshot.
    """
    try:
        data = json.loads(content)
        inputs, outputs = data["inputs"], data["outputs"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValidationError(
            N_("This is not a minyi results snapshot: %(error)s"), parameters={"error": str(error)}
        ) from error
    if data.get("format") not in scoring.SUPPORTED_FORMATS:
        raise ValidationError(
            N_("The snapshot's format “%(format)s” is not “%(expected)s”."),
            parameters={
                "format": str(data.get("format")),
                "expected": "”、“".join(scoring.SUPPORTED_FORMATS),
            },
        )
    digest = sha256_text(content)
    try:
        # Each format re-computes as it was defined (the inputs name theirs).
        recomputed = scoring.compute_outputs(inputs)
    except (KeyError, TypeError, ValueError) as error:
        return Verification(digest, None, (f"the inputs cannot be computed: {error!r}",))
    found: list[str] = []
    if recomputed["format"] != data["format"]:
        found.append(f"format: {data['format']!r} stored, the inputs are {recomputed['format']!r}")
    _differences(
        json.loads(canonical_json(outputs)),
        json.loads(canonical_json(recomputed)),
        "outputs",
        found,
    )
    matches = None if expected_sha256 is None else digest == expected_sha256
    return Verification(digest, matches, tuple(found))


def verify_snapshot(snapshot: ResultSnapshot) -> Verification:
    """Verify a stored snapshot: its hash and its re-computed outputs."""
    return verify_content(snapshot.content, snapshot.sha256)
