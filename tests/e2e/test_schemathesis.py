"""schemathesis against the app's own OpenAPI schema, as an admin: for every operation and
every generated input, no 500, and every response is documented: its status, its
Content-Type and its body's schema.

Bounded on purpose (a few examples per operation, no deadline): it runs in the suite on
every push. Set ARBX_SCHEMATHESIS_EXAMPLES for a deeper local run.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, given
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("ARBX_SCHEMATHESIS_EXAMPLES", "12"))


# every answer, errors included: its status is documented, its Content-Type is the
# documented one (problem+json for errors, see entrypoints/http/openapi.py) and its body
# matches the documented schema
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _request(client: TestClient, case: Any) -> Any:
    """Send the case through the admin client; credentials schemathesis generated from the
    security schemes are dropped, so the client's admin key is what authenticates."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    headers = {
        k: v
        for k, v in (kwargs.get("headers") or {}).items()
        if k.lower() not in ("authorization", "x-api-key")
    }
    options: dict[str, Any] = {"headers": headers, "params": kwargs.get("params")}
    if "json" in kwargs:
        options["json"] = kwargs["json"]
    elif "data" in kwargs:
        options["content"] = kwargs["data"]
    return client.request(kwargs["method"], kwargs["url"], **options)


def test_every_operation_survives_generated_input(client: TestClient) -> None:
    raw = client.get("/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        tried += 1

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = _request(client, case)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert tried >= 20
    assert statuses[401] + statuses[403] < sum(statuses.values()) / 4, statuses
    assert not failures, "\n\n".join(failures)
