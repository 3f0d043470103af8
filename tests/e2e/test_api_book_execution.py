"""The execution model over HTTP: a stored arbitrage run names it and is flagged synthetic;
an unknown model is a 422 naming the field, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.e2e.test_api_backtests import ARB, SMA, api, settings, wait_done  # noqa: F401

BOOK = {"execution": "synthetic_book", "book": {"spread_bps": 4.0, "latency_ms": 250}}


def _run(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:  # noqa: F811  (the api fixture)
    response = api.post("/api/v1/backtests", json=body)
    assert response.status_code in (201, 202), response.text
    done = wait_done(api, response.json()["id"])
    assert done["status"] == "done", done
    run: dict[str, Any] = done["run"]
    return run


def test_a_book_run_names_its_execution_and_is_flagged_synthetic(api: TestClient) -> None:  # noqa: F811
    bars = _run(api, ARB)
    book = _run(api, {**ARB, **BOOK})
    assert (bars["execution"], bars["synthetic"]) == ("bars", False)
    assert (book["execution"], book["synthetic"]) == ("synthetic_book", True)
    assert book["request"]["execution"] == "synthetic_book"
    assert book["request"]["book"]["spread_bps"] == 4.0
    assert any(n.startswith("SYNTHETIC order books") for n in book["notes"])
    # the same result tables and attribution as a bar run
    assert set(book["attribution"]) == set(bars["attribution"])
    assert book["metrics"].keys() == bars["metrics"].keys()
    # paying a 4 bps spread on every leg cannot beat the frictionless bar fills
    assert book["attribution"]["slippage"] < bars["attribution"]["slippage"] <= 0.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({**ARB, "execution": "quotes"}, "execution"),
        ({**ARB, "execution": "synthetic_book", "book": {"levels": 0}}, "book.levels"),
        ({**ARB, "book": {"spread_bps": 3.0}}, "book"),
        # single-market runs honour book executions now, on the event engine only
        ({**SMA, "execution": "synthetic_book", "engine": "vectorized"}, "engine"),
    ],
)
def test_bad_execution_is_a_422_and_stores_nothing(
    api: TestClient,  # noqa: F811
    change: dict[str, Any],
    field: str,
) -> None:
    response = api.post("/api/v1/backtests", json=change)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert api.get("/api/v1/backtests").json()["backtests"] == []
