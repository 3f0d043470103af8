"""The web UI and the reports in a real browser: Debian's Chromium, headless, driven by
Playwright, against a real ``arbx serve`` process on the samples.

Every page fails its test on a browser console error (a page may declare the one failed
request it provokes on purpose, e.g. the 422 of a bad form) and on any request that leaves
the server's origin: the UI and the reports need no internet. Screenshots of every page go
to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
ARTIFACTS = ROOT / "tests" / "artifacts"
ARBX = str(Path(sys.executable).with_name("arbx"))
PASSWORDS = {
    "alice": "mocha lantern 71 ridge",
    "ana": "copper kettle 52 dune",
    "vera": "quiet harbor 38 moss",
}
SMA = {
    "strategy": "sma_cross",
    "series": ["kraken:BTC/USD:1m"],
    "start": "2023-03-10",
    "end": "2023-03-12",
}

pytestmark = pytest.mark.timeout(300)


@dataclass
class Live:
    base: str
    data: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def _cli(data: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [ARBX, "--data-dir", str(data), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``arbx serve`` on a fresh data dir with the samples, an admin (alice), an analyst
    (ana) and a viewer (vera)."""
    data = tmp_path_factory.mktemp("browser") / "var"
    _cli(data, "data", "load-samples", "--dir", str(SAMPLES))
    _cli(
        data,
        "users",
        "create-admin",
        "--username",
        "alice",
        "--password-stdin",
        stdin=PASSWORDS["alice"],
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBX_")}
    env["ARBX_BACKTEST__INLINE_MAX_BARS"] = "5000"  # the 3-series arbitrage goes to the pool
    server = subprocess.Popen(
        [ARBX, "--data-dir", str(data), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "arbx serve did not start"
            time.sleep(0.3)
        world = Live(base, data)
        world.tokens["alice"] = _login(base, "alice")
        for user, role in (("ana", "analyst"), ("vera", "viewer")):
            made = httpx.post(
                f"{base}/api/v1/admin/users",
                json={"username": user, "password": PASSWORDS[user], "roles": [role]},
                headers=world.bearer("alice"),
            )
            assert made.status_code == 201, made.text
            world.tokens[user] = _login(base, user)
        yield world
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _login(base: str, user: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": user, "password": PASSWORDS[user]}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    page: Page
    errors: list[str]
    foreign: list[str]
    expected: list[str] = field(default_factory=list)  # console errors provoked on purpose

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def open_page(browser: Browser, live: Live) -> Iterator[Callable[..., Watched]]:
    made: list[Any] = []
    watched: list[Watched] = []

    def make(*, offline: bool = False) -> Watched:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=offline)
        made.append(context)
        page = context.new_page()
        w = Watched(page, [], [])

        def on_console(message: Any) -> None:
            if message.type == "error":
                w.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: w.errors.append(f"page error: {exc}"))

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith((live.base, "file://", "data:", "blob:", "about:")):
                r.continue_()
            else:
                w.foreign.append(url)
                r.abort()

        context.route("**/*", route)
        watched.append(w)
        return w

    yield make
    for context in made:
        context.close()
    for w in watched:
        unexpected = [e for e in w.errors if not any(x in e for x in w.expected)]
        assert not unexpected, f"browser console errors: {unexpected}"
        assert not w.foreign, f"requests that left the server: {w.foreign}"


def sign_in(w: Watched, live: Live, user: str) -> None:
    page = w.page
    page.goto(f"{live.base}/")
    page.wait_for_selector("#signin")
    assert page.evaluate("document.activeElement.id") == "username"  # focus starts there
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.keyboard.press("Enter")  # keyboard only
    page.wait_for_selector("#whoami")
    stored = page.evaluate("JSON.stringify(sessionStorage)")
    assert PASSWORDS[user] not in stored  # tokens only, never the password


def test_sign_in_and_see_the_samples_series_chart(
    open_page: Callable[..., Watched], live: Live
) -> None:
    w = open_page()
    w.page.goto(f"{live.base}/")
    w.page.wait_for_selector("#signin")
    w.shot("01-sign-in")
    sign_in(w, live, "alice")
    page = w.page
    page.goto(f"{live.base}/#/series/kraken%3ABTC%2FUSDC%3A1m")
    page.wait_for_selector("#series-chart[data-drawn]")
    assert page.locator("#series-table tbody tr").count() == 5
    assert page.locator("#candles canvas").count() >= 1
    status = page.inner_text("#chart-status")
    gaps = int(re.search(r"(\d+) gaps", status).group(1))  # type: ignore[union-attr]
    assert gaps == 385  # kraken leaves out minutes without trades: each gap shaded
    w.shot("02-series")
    page.goto(f"{live.base}/#/quality")
    page.wait_for_selector("#quality-table")
    page.locator("#quality-table button").first.click()  # admins may repair: dry run first
    page.wait_for_selector("#repair-card")
    assert "Dry run" in page.inner_text("#repair-card")
    w.shot("03-quality")
    page.goto(f"{live.base}/#/jobs")
    page.wait_for_selector("#jobs p, #jobs-table")
    page.wait_for_selector("#venues-table")
    assert page.locator("#venues-table tbody tr").count() >= 1  # each venue's circuit breaker
    w.shot("04-jobs")
    page.goto(f"{live.base}/#/admin")
    page.wait_for_selector("#users-table")
    assert page.locator("#users-table tbody tr").count() == 3
    page.wait_for_selector("#keys-table")
    w.shot("05-admin")


def _fill_sma(page: Page, fast: str, slow: str) -> None:
    page.select_option("#strategy", "sma_cross")
    page.fill("#param-fast", fast)
    page.fill("#param-slow", slow)
    page.fill("#series", "kraken:BTC/USD:1m")
    page.fill("#start", "2023-03-10")
    page.fill("#end", "2023-03-12")


def test_run_a_backtest_from_the_form_and_open_its_report(
    open_page: Callable[..., Watched], live: Live
) -> None:
    w = open_page()
    w.expected.append("status of 422")  # the bad form below, on purpose
    sign_in(w, live, "ana")
    page = w.page
    page.goto(f"{live.base}/#/backtests/new")
    page.wait_for_selector("#strategy")
    page.select_option("#strategy", "sma_cross")
    page.wait_for_selector("#param-fast")
    assert page.get_attribute("#param-fast", "type") == "number"  # from the parameter schema
    _fill_sma(page, "60", "50")
    page.click("#run")
    error = page.locator('[data-error-for="params.fast"]')
    error.wait_for()
    page.wait_for_function(
        "document.querySelector('[data-error-for=\"params.fast\"]').textContent.length > 0"
    )
    assert "shorter than slow" in error.inner_text()  # the API's 422, next to its field
    w.shot("06-form-422")
    page.fill("#param-fast", "10")
    page.click("#run")
    page.wait_for_url(re.compile(r"#/backtests/[0-9a-f]{32}$"))
    frame = page.frame_locator("#report-frame")
    frame.locator("body[data-charts-drawn]").wait_for(timeout=60_000)
    assert frame.locator("#table-metrics").count() == 1
    assert frame.locator("canvas").count() >= 4
    w.shot("07-report")
    runs = httpx.get(f"{live.base}/api/v1/backtests", headers=live.bearer("ana")).json()[
        "backtests"
    ]
    assert [r["strategy"] for r in runs] == ["sma_cross"]  # the 422 stored nothing


def test_a_large_run_from_the_form_shows_its_status_then_its_report(
    open_page: Callable[..., Watched], live: Live
) -> None:
    w = open_page()
    sign_in(w, live, "alice")
    page = w.page
    page.goto(f"{live.base}/#/backtests/new")
    page.wait_for_selector("#strategy")
    page.select_option("#strategy", "threshold_arb")
    page.wait_for_selector("#param-threshold_bps")
    page.fill("#param-threshold_bps", "20")
    page.fill("#series", "kraken:BTC/USDC:1m\nkraken:BTC/USD:1m")
    page.fill("#conversions", "kraken:BTC/USDC:1m=kraken:USDC/USD:1m")
    page.fill("#start", "2023-03-10")
    page.fill("#end", "2023-03-12")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/backtests") and r.request.method == "POST"
    ) as answer:
        page.click("#run")
    assert answer.value.status == 202  # accepted: computed in the worker pool
    page.wait_for_url(re.compile(r"#/backtests/[0-9a-f]{32}$"))
    frame = page.frame_locator("#report-frame")
    frame.locator("body[data-charts-drawn]").wait_for(timeout=120_000)
    for block in ("#chart-spread", "#block-attribution", "#chart-balances_base"):
        assert frame.locator(block).count() == 1, block
    w.shot("13-arbitrage-report")


def test_compare_two_runs(open_page: Callable[..., Watched], live: Live) -> None:
    for fast in (5, 20):
        made = httpx.post(
            f"{live.base}/api/v1/backtests",
            json={**SMA, "params": {"fast": fast, "slow": 50}},
            headers=live.bearer("ana"),
            timeout=60,
        )
        assert made.status_code == 201, made.text
    w = open_page()
    sign_in(w, live, "ana")
    page = w.page
    page.goto(f"{live.base}/#/backtests")
    page.wait_for_selector("#runs-table")
    w.shot("08-backtests")
    params = page.locator("#runs-table tbody tr td:nth-child(5)").all_inner_texts()
    assert "fast=5, slow=50, entry=cross" in params  # the effective parameters
    assert page.is_disabled("#compare")
    boxes = page.locator("input[data-run]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare")
    frame = page.frame_locator("#report-frame")
    frame.locator("body[data-charts-drawn]").wait_for(timeout=60_000)
    assert "Comparison of 2 backtests" in frame.locator("h1").inner_text()
    w.shot("09-compare")


def test_a_viewer_sees_no_buttons_it_cannot_use_and_a_403_page(
    open_page: Callable[..., Watched], live: Live
) -> None:
    w = open_page()
    sign_in(w, live, "vera")
    page = w.page
    nav = page.inner_text("#nav")
    assert "Admin" not in nav
    assert "Jobs" not in nav
    page.goto(f"{live.base}/#/backtests")
    page.wait_for_selector("#runs")
    assert page.locator("#new-backtest").count() == 0
    page.goto(f"{live.base}/#/quality")
    page.wait_for_selector("#quality-table")
    assert page.locator("#quality-table button").count() == 0  # no repair for a viewer
    page.goto(f"{live.base}/#/admin")
    page.wait_for_selector("#forbidden")
    assert "403" in page.inner_text("#forbidden")
    w.shot("10-viewer-403")
    # and the server refuses it anyway
    refused = httpx.get(f"{live.base}/api/v1/admin/users", headers=live.bearer("vera"))
    assert refused.status_code == 403


def test_api_docs_work_without_internet(open_page: Callable[..., Watched], live: Live) -> None:
    w = open_page()
    w.page.goto(f"{live.base}/schema")
    w.page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "arbx" in w.page.inner_text(".swagger-ui .info .title")
    w.shot("11-api-docs")


def test_a_report_file_renders_its_charts_with_networking_disabled(
    open_page: Callable[..., Watched], live: Live, tmp_path: Path
) -> None:
    made = httpx.post(
        f"{live.base}/api/v1/backtests",
        json={
            "strategy": "threshold_arb",
            "params": {"threshold_bps": 20},
            "series": ["kraken:BTC/USDC:1m", "kraken:BTC/USD:1m"],
            "conversions": {"kraken:BTC/USDC:1m": "kraken:USDC/USD:1m"},
            "start": "2023-03-10",
            "end": "2023-03-12",
        },
        headers=live.bearer("alice"),
        timeout=60,
    )
    assert made.status_code in (201, 202), made.text
    run_id = made.json()["id"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{live.base}/api/v1/backtests/{run_id}", headers=live.bearer("alice")).json()[
        "status"
    ] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    out = tmp_path / "arbitrage.html"
    _cli(live.data, "backtest", "report", run_id, "--out", str(out))
    w = open_page(offline=True)
    w.page.goto(out.as_uri())
    w.page.wait_for_selector("body[data-charts-drawn]", timeout=60_000)
    charts = w.page.locator("[data-chart]").count()
    assert charts >= 5
    assert w.page.locator("[data-chart] canvas").count() == charts  # every chart drawn
    assert w.page.locator("#block-attribution svg").count() == 1
    w.shot("12-report-file-offline")
