"""An attacker with a copy of the database and the logs, trying to tie responses to people.

Every probe is generic over the schema: it reads every row of every table, and
each row is resolved, through its foreign keys (child → parent) and through the
objects audit entries name, to the responses and the phone hashes it reaches.
Identity strings (phone numbers, phone hashes, invitation tokens) found in any
text column or log record count as reaching that phone hash too.  Then:

* ``direct``: a row that reaches both a response and a phone hash;
* ``timestamps``: the phone whose times (any datetime column of any row that
  reaches it, log records naming it) come nearest one of the response's times
  (its own columns, its comments, audit entries naming it), if that nearest is
  within five minutes and ten times nearer than every other phone;
* ``order``: responses of one channel sorted by id against the phones that
  answered by that channel (the attacker is granted knowing which ones) sorted
  by any column of the rows reaching them (ids, times, audit chain positions);
  a full alignment of two or more counts;
* ``content``: IVR keypresses and drafts whose answers are exactly one
  response's, and no other's;
* ``units``: the units a response rated against the units the application
  would assign each answered case (:func:`survey.services.responses.assigned_units`
  from the token, :func:`survey.services.calling.rotated` from the case id),
  with whatever the database still holds to compute them, once the attacker can
  tell the recomputation is right (it explains all of a channel's responses).

A probe links a response when it singles out the response's true phone, known
to the test (``truth``).  The result is the set of linked (probe, response).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Base

#: How near two times must be for the timestamp probe to consider them at all.
WINDOW_SECONDS = 300.0
#: How many times nearer than every other phone the nearest must be to be singled out.
MARGIN_FACTOR = 10.0

Key = tuple[str, Any]


@dataclass
class Resolved:
    responses: set[int] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)


@dataclass
class Database:
    """Every row of every table, and what each reaches."""

    rows: dict[str, list[dict[str, Any]]]
    identities: dict[str, str]
    resolved: dict[Key, Resolved] = field(default_factory=dict)

    @classmethod
    def read(cls, identities: dict[str, str]) -> Database:
        rows = {
            table.name: [dict(row._mapping) for row in db.session.execute(sa.select(table))]
            for table in Base.metadata.sorted_tables
        }
        database = cls(rows, identities)
        for table in Base.metadata.sorted_tables:
            primary = [column.name for column in table.primary_key.columns]
            for row in rows[table.name]:
                database.resolve(table.name, tuple(row[name] for name in primary))
        return database

    def _index(self) -> dict[tuple[str, str], dict[Any, dict[str, Any]]]:
        if not hasattr(self, "_by_column"):
            self._by_column: dict[tuple[str, str], dict[Any, dict[str, Any]]] = {}
        return self._by_column

    def find(self, table: str, column: str, value: Any) -> dict[str, Any] | None:
        index = self._index()
        if (table, column) not in index:
            index[(table, column)] = {row[column]: row for row in self.rows.get(table, [])}
        return index[(table, column)].get(value)

    def resolve(self, table: str, key: Any) -> Resolved:
        """What the row of ``table`` with primary key ``key`` reaches (memoised)."""
        memo = (table, key)
        if memo in self.resolved:
            return self.resolved[memo]
        result = self.resolved[memo] = Resolved()
        metadata = Base.metadata.tables[table]
        primary = [column.name for column in metadata.primary_key.columns]
        row = self.find(table, primary[0], key[0]) if len(primary) == 1 else None
        if row is None:
            return result
        if table == "response":
            result.responses.add(row["id"])
        if "phone_hash" in row and row["phone_hash"] in self.identities.values():
            result.phones.add(row["phone_hash"])
        for fk in metadata.foreign_keys:
            value = row[fk.parent.name]
            if value is None:
                continue
            target = self.find(fk.column.table.name, fk.column.name, value)
            if target is not None:
                self._merge(result, fk.column.table, target)
        if table == "audit_log_entry":
            self._audit_targets(result, row)
        for value in row.values():
            if isinstance(value, str):
                result.phones.update(identities_in(value, self.identities))
        return result

    def _merge(self, result: Resolved, table: sa.Table, row: dict[str, Any]) -> None:
        primary = [column.name for column in table.primary_key.columns]
        other = self.resolve(table.name, tuple(row[name] for name in primary))
        result.responses |= other.responses
        result.phones |= other.phones

    def _audit_targets(self, result: Resolved, row: dict[str, Any]) -> None:
        """An audit entry reaches the object it names, and any object its details name."""
        named: list[tuple[str, Any]] = [(row["object_type"], row["object_id"])]
        try:
            details = json.loads(row["details"])
        except ValueError:
            details = {}
        if isinstance(details, dict):
            for name, value in details.items():
                named.append((name.removesuffix("_id"), value))
        for table_name, object_id in named:
            table = Base.metadata.tables.get(table_name)
            if table is None or not str(object_id).isdigit():
                continue
            target = self.find(table_name, "id", int(object_id))
            if target is not None:
                self._merge(result, table, target)

    def side_rows(self) -> Iterable[tuple[str, dict[str, Any], Resolved]]:
        for table in Base.metadata.sorted_tables:
            primary = [column.name for column in table.primary_key.columns]
            for row in self.rows[table.name]:
                yield table.name, row, self.resolved[(table.name, tuple(row[n] for n in primary))]


def identities_in(text: str, identities: dict[str, str]) -> set[str]:
    return {phone_hash for marker, phone_hash in identities.items() if marker in text}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class Probe:
    """The probes' findings: probe name → responses linked to their true phone."""

    database: Database
    truth: dict[int, str]
    logs: list[logging.LogRecord]
    #: response id → its channel and the (unit, item, level id) of its answers.
    channels: dict[int, str] = field(default_factory=dict)
    answers: dict[int, set[tuple[int, int, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for response in self.database.rows["response"]:
            self.channels[response["id"]] = response["channel"]
        for answer in self.database.rows["answer"]:
            self.answers.setdefault(answer["response_id"], set()).add(
                (answer["unit_id"], answer["item_id"], answer["scale_level_id"])
            )

    def run(self) -> dict[str, set[int]]:
        return {
            "direct": self.direct(),
            "timestamps": self.timestamps(),
            "order": self.order(),
            "content": self.content(),
            "units": self.units(),
        }

    # --- probes -------------------------------------------------------------------

    def direct(self) -> set[int]:
        found = set()
        for _table, _row, resolved in self.database.side_rows():
            for response_id in resolved.responses:
                if self.truth.get(response_id) in resolved.phones:
                    found.add(response_id)
        return found

    def _events(self) -> tuple[dict[int, list[datetime]], dict[str, list[datetime]]]:
        responses: dict[int, list[datetime]] = defaultdict(list)
        phones: dict[str, list[datetime]] = defaultdict(list)
        for _table, row, resolved in self.database.side_rows():
            times = [_utc(value) for value in row.values() if isinstance(value, datetime)]
            if resolved.responses and not resolved.phones:
                for response_id in resolved.responses:
                    responses[response_id].extend(times)
            elif resolved.phones and not resolved.responses:
                for phone in resolved.phones:
                    phones[phone].extend(times)
        for record in self.logs:
            moment = datetime.fromtimestamp(record.created, UTC)
            for phone in identities_in(record.getMessage(), self.database.identities):
                phones[phone].append(moment)
        return responses, phones

    def timestamps(self) -> set[int]:
        responses, phones = self._events()
        found = set()
        for response_id, phone in self.truth.items():
            mine = responses.get(response_id, [])
            distance = {
                other: min(
                    (abs((a - b).total_seconds()) for a in mine for b in times),
                    default=float("inf"),
                )
                for other, times in phones.items()
            }
            best = distance.get(phone, float("inf"))
            if best <= WINDOW_SECONDS and all(
                d > best * MARGIN_FACTOR and d > best
                for other, d in distance.items()
                if other != phone
            ):
                found.add(response_id)
        return found

    def order(self) -> set[int]:
        by_channel: dict[str, list[int]] = defaultdict(list)
        for response_id in sorted(self.truth):
            by_channel[self.channels[response_id]].append(response_id)
        # phone → (table, column) → values of the rows reaching only that phone
        keys: dict[str, dict[tuple[str, str], list[Any]]] = defaultdict(lambda: defaultdict(list))
        for table, row, resolved in self.database.side_rows():
            if len(resolved.phones) != 1 or resolved.responses:
                continue
            (phone,) = resolved.phones
            for column, value in row.items():
                if isinstance(value, datetime):
                    keys[phone][(table, column)].append(_utc(value))
                elif isinstance(value, int) and not isinstance(value, bool):
                    keys[phone][(table, column)].append(value)
        for index, record in enumerate(self.logs):
            for phone in identities_in(record.getMessage(), self.database.identities):
                keys[phone][("log", "position")].append(index)
        found: set[int] = set()
        for response_ids in by_channel.values():
            phones = [self.truth[response_id] for response_id in response_ids]
            if len(set(phones)) < 2:
                continue
            sources = set.intersection(*(set(keys[phone]) for phone in phones))
            for source in sources:
                for pick in (min, max):
                    values = [pick(keys[phone][source]) for phone in phones]
                    if len(set(values)) < len(values):
                        continue  # ties order nothing
                    ordered = [phone for _value, phone in sorted(zip(values, phones, strict=True))]
                    if ordered == phones:
                        found.update(response_ids)
        return found

    def _unique_match(self, phone: str, given: set[tuple[int, int, int]]) -> int | None:
        matches = [r for r, answers in self.answers.items() if answers == given]
        if len(matches) == 1 and self.truth.get(matches[0]) == phone:
            return matches[0]
        return None

    def content(self) -> set[int]:
        levels = {
            (row["cycle_id"], row["position"]): row["id"]
            for row in self.database.rows["scale_level"]
        }
        units = {row["id"]: row["cycle_id"] for row in self.database.rows["unit"]}
        calls: dict[str, set[tuple[int, int, int]]] = defaultdict(set)
        call_phone: dict[str, set[str]] = defaultdict(set)
        for row in self.database.rows["ivr_step"]:
            if row["step"].startswith("q-"):
                _q, unit_id, item_id = row["step"].split("-")
                level = levels.get((units.get(int(unit_id)), int(row["digits"])))
                if level is not None:
                    calls[row["call_sid"]].add((int(unit_id), int(item_id), level))
            call_phone[row["call_sid"]] |= self.database.resolved[("ivr_step", (row["id"],))].phones
        found = set()
        for call_sid, given in calls.items():
            for phone in call_phone[call_sid]:
                if (linked := self._unique_match(phone, given)) is not None:
                    found.add(linked)
        for row in self.database.rows["response_draft"]:
            stored = json.loads(row["answers_json"])
            given = {
                (int(unit_id), int(item_id), int(level))
                for unit_id, entry in stored.items()
                for item_id, level in entry["items"].items()
            }
            for phone in self.database.resolved[("response_draft", (row["id"],))].phones:
                if (linked := self._unique_match(phone, given)) is not None:
                    found.add(linked)
        return found

    def units(self) -> set[int]:
        """Per channel, recompute each answered case's units with what the database holds.

        The attacker can check a recomputation: it is right when the units predicted for
        the channel's phones are, as a multiset, the units its responses rated.  Only
        then does a response's units, predicted for one phone alone, link them (a stale
        or new key predicts at random, and a lucky guess cannot be told from a miss).
        """
        from survey.services import calling
        from survey.services.responses import GroupRef

        rated = {r: frozenset(u for u, _item, _level in a) for r, a in self.answers.items()}
        cycles = {row["id"]: row for row in self.database.rows["cycle"]}
        groups = {row["id"]: row for row in self.database.rows["rater_group"]}
        settings = {row["cycle_id"]: row for row in self.database.rows["phone_settings"]}
        # method → phone → the units that method predicts for the phone's answered case
        predicted: dict[str, dict[str, frozenset[int]]] = defaultdict(dict)
        for case in self.database.rows["fieldwork_case"]:
            if case["disposition"] != "1.1" or case["contact_id"] is None:
                continue
            contact = self.database.find("frame_contact", "id", case["contact_id"])
            draw = self.database.find("sample_draw", "id", case["draw_id"])
            assert contact is not None and draw is not None
            frame = self.database.find("sampling_frame", "id", draw["frame_id"])
            assert frame is not None
            cycle = cycles[case["cycle_id"]]
            group = groups[frame["rater_group_id"]]
            units = sorted(
                (row for row in self.database.rows["unit"] if row["cycle_id"] == cycle["id"]),
                key=lambda row: row["code"],
            )
            group_ref = GroupRef(group["id"], group["units_per_respondent"])
            for method, chosen in (
                ("invitation", invitation_units(cycle, group_ref, units, case)),
                ("phone", phone_units(calling, cycle, settings.get(cycle["id"]), units, case)),
            ):
                if chosen is not None:
                    predicted[method][contact["phone_hash"]] = frozenset(r["id"] for r in chosen)
        found: set[int] = set()
        by_channel: dict[str, list[int]] = defaultdict(list)
        for response_id in self.truth:
            by_channel[self.channels[response_id]].append(response_id)
        for channel, response_ids in by_channel.items():
            method = "invitation" if channel == "invitation" else "phone"
            guesses = predicted.get(method, {})
            mine = Counter(rated.get(r) for r in response_ids)
            if Counter(guesses.get(self.truth[r]) for r in response_ids) != mine:
                continue
            for response_id in response_ids:
                holders = {p for p, units in guesses.items() if units == rated.get(response_id)}
                if holders == {self.truth[response_id]}:
                    found.add(response_id)
        return found


def invitation_units(
    cycle: dict[str, Any], group: Any, units: list[dict[str, Any]], case: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """The units the invitation link of ``case`` shows, computed as the application does."""
    from survey.services import responses

    seed_of = getattr(responses, "unit_seed", None)
    seed = seed_of(cycle.get("unit_key"), case["token"]) if seed_of else case["token"]
    rows = [_UnitRow(row) for row in units]
    return [row.row for row in responses.assigned_units(group, rows, seed)]


def phone_units(
    calling: Any,
    cycle: dict[str, Any],
    settings: dict[str, Any] | None,
    units: list[dict[str, Any]],
    case: dict[str, Any],
) -> list[dict[str, Any]] | None:
    """The units a phone interview of ``case`` asks about, computed as the application does."""
    if settings is None:
        return None
    seed_of = getattr(calling, "rotation_seed", None)
    seed = seed_of(cycle.get("unit_key"), case["id"]) if seed_of else case["id"]
    return list(calling.rotated(units, seed, settings["units_per_interview"]))


@dataclass(frozen=True)
class _UnitRow:
    row: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.row["code"])
