"""A unit liaison (联络员) sees its own unit only, on every route it can reach.

The routes are enumerated from the URL map with the access rules of
``test_access`` (the liaison area plus everything public).  Every reachable
route that takes an argument must be in ``ARGUMENTS``, which says which
values to try: the own unit's cycles, another cycle, missing ids, other
units' codes.  Comments, rectifications and appeals are seeded for the
liaison's unit and for another unit in both demo cycles with unique markers;
no response to the liaison may contain another unit's marker, while the own
unit's markers do show (so the check can fail).  Forms that a liaison posts
cannot be pointed at another unit by adding its id.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import (
    Appeal,
    AppealStatus,
    Channel,
    Comment,
    Cycle,
    Poster,
    Rectification,
    Response,
    ResultSnapshot,
    Unit,
    User,
)
from survey.models.base import utc_now
from survey.services import publication
from tests.app.helpers import login
from tests.app.test_access import RULES, _blueprint, _is_public
from tests.figures import record_figures

MISSING = 999_999


@dataclass
class Seed:
    own_cycles: list[int]
    missing_cycle: int
    own_units: list[int]
    other_units: list[int]
    other_codes: list[str]
    snapshots: list[int]
    categories: list[tuple[int, str]]
    posters: list[str]
    account_unit: int
    comments: list[int] = field(default_factory=list)
    own_markers: set[str] = field(default_factory=set)
    other_markers: set[str] = field(default_factory=set)


Kwargs = dict[str, Any]

#: Every liaison-reachable endpoint with arguments → the argument values to try.
ARGUMENTS: dict[str, Callable[[Seed], list[Kwargs]]] = {
    # The liaison area: the unit always comes from the account, never from the request.
    "liaison.unit_page": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, s.missing_cycle]],
    "liaison.rectification_create": lambda s: [
        {"cycle_id": c} for c in [*s.own_cycles, s.missing_cycle]
    ],
    "liaison.fix_create": lambda s: [
        {"cycle_id": c, "comment_id": i}
        for c in [*s.own_cycles, s.missing_cycle]
        for i in [*s.comments, MISSING]
    ],
    "liaison.appeal_create": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, s.missing_cycle]],
    # Public results and API: the same for everyone, and never comments or appeal texts.
    "results.cycle_results": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, MISSING]],
    "results.category": lambda s: [
        {"cycle_id": c, "category_code": code} for c, code in s.categories
    ],
    "results.methods": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, MISSING]],
    "results.report": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, MISSING]],
    "results.export_xlsx": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, MISSING]],
    "results_api.api_results": lambda s: [{"cycle_id": c} for c in [*s.own_cycles, MISSING]],
    "results_api.api_snapshot": lambda s: [{"snapshot_id": i} for i in [*s.snapshots, MISSING]],
    # Credential-bearing public pages: another unit's poster, made-up tokens.
    "respondent.poster": lambda s: [{"code": c} for c in [*s.posters, "NOPE"]],
    "respondent.poster_post": lambda s: [{"code": c} for c in [*s.posters, "NOPE"]],
    "respondent.poster_rate": lambda s: [{"code": c} for c in [*s.posters, "NOPE"]],
    "respondent.poster_rate_post": lambda s: [{"code": c} for c in [*s.posters, "NOPE"]],
    "respondent.poster_verify": lambda s: [{"code": c} for c in [*s.posters, "NOPE"]],
    "respondent.poster_verify_post": lambda s: [{"code": c} for c in [*s.posters, "NOPE"]],
    "respondent.invitation": lambda s: [{"token": "not-a-token"}],
    "respondent.invitation_unit": lambda s: [{"token": "not-a-token", "number": 1}],
    "respondent.invitation_unit_post": lambda s: [{"token": "not-a-token", "number": 1}],
    "respondent.listed": lambda s: [{"token": "not-a-token"}],
    "respondent.listed_unit": lambda s: [{"token": "not-a-token", "number": 1}],
    "respondent.listed_unit_post": lambda s: [{"token": "not-a-token", "number": 1}],
    "respondent.follow_up": lambda s: [{"token": "not-a-token"}],
    "respondent.follow_up_rate": lambda s: [{"token": "not-a-token"}],
    "ballot.ballot": lambda s: [{"token": "not-a-token"}],
    "ballot.ballot_submit": lambda s: [{"token": "not-a-token"}],
    # No data behind these.
    "set_language": lambda s: [{"code": "zh"}, {"code": "en"}],
    "static": lambda s: [{"filename": "does-not-exist.css"}],
}


def liaison_routes(app: Flask) -> list[tuple[str, str, str, list[str]]]:
    """(endpoint, rule, method, arguments) of every route a liaison may reach."""
    found = []
    for rule in app.url_map.iter_rules():
        reachable = _is_public(rule.endpoint) or "liaison" in RULES.get(
            _blueprint(rule.endpoint), set()
        )
        if not reachable:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, rule.rule, method, sorted(rule.arguments)))
    return found


def test_every_liaison_route_with_an_argument_is_covered(results_app: Flask) -> None:
    with_arguments = {endpoint for endpoint, _r, _m, args in liaison_routes(results_app) if args}
    missing = with_arguments - set(ARGUMENTS)
    assert not missing, f"say which values to try in ARGUMENTS: {sorted(missing)}"
    assert set(ARGUMENTS) <= with_arguments, sorted(set(ARGUMENTS) - with_arguments)
    assert {"liaison.unit_page", "results_api.api_snapshot"} <= with_arguments


def _seed(app: Flask) -> Seed:
    with app.app_context():
        session = db.session
        liaison = session.scalars(sa.select(User).where(User.username == "liaison")).one()
        own_code = session.get(Unit, liaison.unit_id).code  # type: ignore[union-attr]
        cycles = list(session.scalars(sa.select(Cycle).order_by(Cycle.id)))
        seed = Seed(
            own_cycles=[c.id for c in cycles],
            missing_cycle=MISSING,
            own_units=[],
            other_units=[],
            other_codes=[],
            snapshots=list(session.scalars(sa.select(ResultSnapshot.id))),
            categories=[(c.id, cat.code) for c in cycles for cat in c.categories],
            posters=[],
            account_unit=int(liaison.unit_id or 0),
        )
        for cycle in cycles:
            own = next(u for u in cycle.units if u.code == own_code)
            # A neighbour in the same category, and a unit in another category.
            others = [u for u in cycle.units if u.code != own_code]
            others = [
                next(u for u in others if u.category_id == own.category_id),
                next(u for u in others if u.category_id != own.category_id),
            ]
            seed.own_units.append(own.id)
            seed.other_units.extend(u.id for u in others)
            seed.other_codes.extend(u.code for u in others)
            for unit, markers in [(own, seed.own_markers)] + [
                (u, seed.other_markers) for u in others
            ]:
                tag = f"{'OWN' if unit is own else 'OTHER'}-{uuid.uuid4().hex[:12]}"
                response = Response(
                    cycle_id=cycle.id,
                    channel=Channel.INVITATION,
                    rater_group_id=cycle.rater_groups[0].id,
                    stratum="x",
                    design_weight=1.0,
                )
                response.comments.append(Comment(unit_id=unit.id, text=f"意见 {tag}-comment"))
                session.add(response)
                session.add(
                    Rectification(
                        cycle_id=cycle.id,
                        unit_id=unit.id,
                        text=f"整改 {tag}-rectification",
                        recorded_by="someone",
                    )
                )
                markers.update({f"{tag}-comment", f"{tag}-rectification"})
                snapshot = publication.latest_snapshot(session, cycle)
                if snapshot is not None:
                    # The own unit's appeal is decided, so that it may file another below.
                    decided = unit is own
                    session.add(
                        Appeal(
                            snapshot_id=snapshot.id,
                            unit_id=unit.id,
                            reason=f"申诉 {tag}-appeal",
                            filed_by="someone",
                            status=AppealStatus.REJECTED if decided else AppealStatus.PENDING,
                            decided_at=utc_now() if decided else None,
                            decided_by="office" if decided else None,
                            decision_reason="驳回" if decided else "",
                        )
                    )
                    markers.add(f"{tag}-appeal")
        session.flush()
        seed.comments = list(session.scalars(sa.select(Comment.id).order_by(Comment.id)))
        seed.posters = list(
            session.scalars(sa.select(Poster.code).where(Poster.unit_id.in_(seed.other_units)))
        )
        session.commit()
        return seed


def _text(body: bytes, content_type: str) -> str:
    """Everything readable in a response, workbooks unzipped."""
    if "spreadsheetml" in content_type:
        with zipfile.ZipFile(io.BytesIO(body)) as workbook:
            return "".join(
                workbook.read(name).decode("utf-8", "replace") for name in workbook.namelist()
            )
    return body.decode("utf-8", "replace")


def test_liaison_gets_no_other_units_data_on_any_route(results_app: Flask, backend: str) -> None:
    seed = _seed(results_app)
    client = results_app.test_client()
    login(client, "liaison")
    leaks: list[str] = []
    statuses: dict[tuple[str, str], int] = {}
    sent = server_errors = 0
    for endpoint, _rule, method, arguments in liaison_routes(results_app):
        if endpoint == "auth.logout":
            continue  # signing out would end the test
        values = ARGUMENTS[endpoint](seed) if arguments else [{}]
        for kwargs in values:
            with results_app.test_request_context():
                from flask import url_for

                url = url_for(endpoint, **kwargs)
            data = {"text": "整改措施", "reason": "申诉理由"} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            sent += 1
            server_errors += response.status_code >= 500
            statuses[(method, url)] = response.status_code
            text = _text(response.data, response.content_type or "")
            leaks.extend(f"{method} {url}: {m}" for m in seed.other_markers if m in text)
    # The own unit's page shows the own unit's comments, rectifications and appeals.
    own_pages = "".join(
        client.get(f"/liaison/cycles/{cycle_id}").get_data(as_text=True)
        for cycle_id in seed.own_cycles
    )
    shown = {marker for marker in seed.own_markers if marker in own_pages}
    record_figures("access: liaison sees own unit only", backend=backend, inputs=sent)
    assert server_errors == 0, {k: v for k, v in statuses.items() if v >= 500}
    assert not leaks, leaks
    assert shown == seed.own_markers, sorted(seed.own_markers - shown)
    for method, path in [
        ("GET", f"/liaison/cycles/{MISSING}"),
        ("POST", f"/liaison/cycles/{MISSING}/rectifications"),
        ("POST", f"/liaison/cycles/{MISSING}/appeals"),
    ]:
        assert statuses[(method, path)] == 404, (method, path)
    for cycle_id in seed.own_cycles:
        assert statuses[("GET", f"/liaison/cycles/{cycle_id}")] == 200
    # A fix can be recorded for the own unit's comments only (closed loop).
    with results_app.app_context():
        fixed_units = set(
            db.session.scalars(
                sa.select(Comment.unit_id).join(
                    Rectification, Rectification.comment_id == Comment.id
                )
            )
        )
    assert fixed_units == set(seed.own_units), fixed_units


def _own_unit_page_counts(client: FlaskClient, cycle_id: int) -> int:
    page = client.get(f"/liaison/cycles/{cycle_id}").get_data(as_text=True)
    block = page.split('<ul class="comments">', 1)[1].split("</ul>", 1)[0]
    return block.count("<li>")


def test_posted_forms_cannot_name_another_unit(results_app: Flask) -> None:
    seed = _seed(results_app)
    client = results_app.test_client()
    login(client, "liaison")
    with results_app.app_context():
        published = [
            cycle.id
            for cycle in db.session.scalars(sa.select(Cycle).where(Cycle.id.in_(seed.own_cycles)))
            if publication.latest_snapshot(db.session, cycle) is not None
        ]
        shown = {
            cycle_id: db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Comment)
                .join(Unit, Unit.id == Comment.unit_id)
                .where(Unit.cycle_id == cycle_id, Unit.id.in_(seed.own_units))
            )
            for cycle_id in seed.own_cycles
        }
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Comment))
    assert published
    tamper = {
        "unit_id": str(seed.other_units[0]),
        "unit": seed.other_codes[0],
        "unit_code": seed.other_codes[0],
        "cycle_id": str(seed.own_cycles[0]),
    }
    for cycle_id in seed.own_cycles:
        # The list holds the own unit's comments, all of them, and nothing else.
        assert _own_unit_page_counts(client, cycle_id) == (shown[cycle_id] or 0) < (total or 0)
        response = client.post(
            f"/liaison/cycles/{cycle_id}/rectifications",
            data={"text": f"整改 tamper-{cycle_id}", **tamper},
        )
        assert response.status_code == 302
    appeal = client.post(
        f"/liaison/cycles/{published[0]}/appeals", data={"reason": "申诉 tamper", **tamper}
    )
    assert appeal.status_code == 302
    with results_app.app_context():
        rectifications = db.session.scalars(
            sa.select(Rectification).where(Rectification.text.like("整改 tamper-%"))
        ).all()
        appeals = db.session.scalars(sa.select(Appeal).where(Appeal.reason == "申诉 tamper")).all()
        assert len(rectifications) == len(seed.own_cycles) and len(appeals) == 1
        assert {r.unit_id for r in rectifications} <= set(seed.own_units)
        assert appeals[0].unit_id in seed.own_units
        # Nothing was added to the other units.
        others = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Rectification)
            .where(Rectification.unit_id.in_(seed.other_units))
        )
        assert others == len(seed.other_units)


def test_liaison_account_without_a_unit_in_a_cycle_gets_404(results_app: Flask) -> None:
    """A cycle in which the liaison's unit is not assessed shows nothing at all."""
    seed = _seed(results_app)
    with results_app.app_context():
        other_cycle_unit = next(u for u in seed.own_units if u != seed.account_unit)
        own = db.session.get(Unit, other_cycle_unit)
        assert own is not None
        cycle_id = own.cycle_id
        own.code = own.code + "-renamed"  # the unit code no longer matches in that cycle
        db.session.commit()
    client = results_app.test_client()
    login(client, "liaison")
    page = client.get(f"/liaison/cycles/{cycle_id}")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert not any(marker in text for marker in seed.other_markers | seed.own_markers)
    assert (
        client.post(f"/liaison/cycles/{cycle_id}/rectifications", data={"text": "x"}).status_code
        == 404
    )
