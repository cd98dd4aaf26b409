"""The public JSON API against its OpenAPI file: coverage of the routes, and schemathesis.

schemathesis generates requests from ``survey/results/openapi.yaml`` (values that
fit the description and values that do not), sends them to the Flask app in
process (WSGI) on the published-results database, and checks every response:
no 5xx, a status code the file lists, a body that matches the file's schema.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
import sqlalchemy as sa
import yaml
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from survey.results import OPENAPI_FILE
from tests.figures import record_figures

SPEC_URL = "/api/results/openapi.yaml"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
#: Examples per operation and generation mode; 3 operations x 3 strategies stay within seconds.
EXAMPLES = 100


def _openapi_path(rule: str) -> str:
    """Flask's ``/a/<int:x>.json`` as OpenAPI's ``/a/{x}.json``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every ``results_api`` route of the URL map."""
    return {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("results_api.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_openapi_file_covers_every_api_route(results_app: Flask) -> None:
    spec = yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))
    documented = {
        (path, method) for path, operations in spec["paths"].items() for method in operations
    }
    routes = api_routes(results_app)
    assert len(routes) >= 3
    assert routes - documented == set(), "routes missing from openapi.yaml"
    assert documented - routes == set(), "openapi.yaml describes routes that do not exist"
    served = results_app.test_client().get(SPEC_URL)
    assert served.status_code == 200
    assert served.data == OPENAPI_FILE.read_bytes()


def test_api_errors_are_json(results_app: Flask) -> None:
    client = results_app.test_client()
    for url in ("/api/results/999999", "/api/results/abc", "/api/results/snapshots/0.json"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.get_json()["error"] == "not_found", url
    refused = client.post("/api/results/1")
    assert refused.status_code == 405 and refused.get_json()["status"] == 405
    # Other areas keep their HTML error pages.
    assert client.get("/results/999999/").content_type.startswith("text/html")


def _published_ids(app: Flask) -> dict[str, int]:
    from survey.extensions import db
    from survey.models import ResultSnapshot

    with app.app_context():
        snapshot = db.session.scalars(sa.select(ResultSnapshot).order_by(ResultSnapshot.id)).first()
        assert snapshot is not None
        return {"cycle_id": snapshot.cycle_id, "snapshot_id": snapshot.id}


def test_schemathesis_finds_no_failure(results_app: Flask, backend: str) -> None:
    schema = schemathesis.openapi.from_wsgi(SPEC_URL, results_app)
    published = _published_ids(results_app)
    tried = server_errors = 0
    statuses: dict[str, set[int]] = {}
    failures: list[str] = []

    def check(case: Any) -> None:
        nonlocal tried, server_errors
        tried += 1
        try:
            response = case.call()
        except Exception as error:  # the app raised: in production a 500
            server_errors += 1
            failures.append(f"{case.method} {case.formatted_path}: {error!r}"[:500])
            return
        if response.status_code >= 500:
            server_errors += 1
        statuses.setdefault(case.operation.path, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as error:  # schemathesis' Failure (or a group of them)
            failures.append(f"{case.method} {case.formatted_path}: {error}"[:500])

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        parameters = {
            name: value for name, value in published.items() if "{" + name + "}" in operation.path
        }
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            # The published ids themselves, so 200 bodies are checked against the schema.
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=parameters),
        ]
        for strategy in strategies:
            run = settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy)(check))
            run()
    record_figures(
        "fuzz: JSON API (schemathesis)", backend=backend, inputs=tried, server_errors=server_errors
    )
    assert server_errors == 0, failures[:5]
    assert failures == []
    for operation in operations:
        assert 200 in statuses.get(operation.path, set()), operation.path
    assert 404 in statuses["/api/results/{cycle_id}"]
    assert tried >= len(operations) * EXAMPLES
