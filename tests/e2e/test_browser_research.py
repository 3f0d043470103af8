"""The research and alert pages and the backtest list filters in a real browser (Debian's
Chromium through Playwright, against a real ``arbx serve`` on the samples), with the
harness of test_browser: a test fails on a browser console error it did not provoke on
purpose and on any request that leaves the server; screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import SMA, Live, Watched, sign_in
from tests.e2e.test_browser import browser as browser
from tests.e2e.test_browser import live as live
from tests.e2e.test_browser import open_page as open_page

pytestmark = pytest.mark.timeout(300)

UNLABELLED = """() => Array.from(document.querySelectorAll('main input, main select, main textarea'))
  .filter(el => el.type !== 'hidden' && !el.getAttribute('aria-label')
    && !(el.id && document.querySelector('label[for="' + el.id + '"]')))
  .map(el => el.id || el.name || el.outerHTML.slice(0, 60))"""


def labelled(page: Page) -> None:
    """Every control on the page has a label (readable without a mouse)."""
    assert page.evaluate(UNLABELLED) == []


def _search(page: Page, name: str, low: str, high: str, step: str) -> None:
    if not page.is_checked(f"#search-{name}"):
        page.check(f"#search-{name}")
    page.fill(f"#low-{name}", low)
    page.fill(f"#high-{name}", high)
    page.fill(f"#step-{name}", step)


def _fill_search(page: Page) -> None:
    page.select_option("#strategy", "sma_cross")
    page.wait_for_selector("#search-fast")
    _search(page, "fast", "5", "20", "5")
    _search(page, "slow", "30", "90", "30")
    page.fill("#series", "kraken:BTC/USD:1m")
    page.fill("#start", "2023-03-10")
    page.fill("#end", "2023-03-12")


def test_start_a_study_from_the_form_follow_it_and_read_its_report(
    open_page: Callable[..., Watched],
    live: Live,
) -> None:
    w = open_page()
    w.expected.append("status of 422")  # the bad form below, on purpose
    sign_in(w, live, "ana")
    page = w.page
    assert "Optimizations" in page.inner_text("#nav")
    page.goto(f"{live.base}/#/optimizations/new")
    page.wait_for_selector("#strategy option", state="attached")
    page.select_option("#strategy", "sma_cross")
    page.wait_for_selector("#search-fast")
    labelled(page)
    page.focus("#strategy")
    page.keyboard.press("Tab")  # the first parameter's controls follow the strategy
    assert page.evaluate("document.activeElement.id") in ("search-entry", "search-fast")
    _fill_search(page)
    page.fill("#low-fast", "0")  # below the parameter's bound: the API's 422
    page.click("#run")
    # (expect, not wait_for_function: the UI's CSP forbids the eval that polling needs)
    expect(page.locator('[data-error-for="space.fast"]')).to_contain_text("fast")
    w.shot("20-study-form-422")
    page.fill("#low-fast", "5")
    page.click("#run")
    page.wait_for_url(re.compile(r"#/optimizations/[0-9a-f]{32}$"))
    page.wait_for_selector("#study-progress")
    frame = page.frame_locator("#report-frame")
    frame.locator("body[data-charts-drawn]").wait_for(timeout=120_000)
    assert "12 of 12 trials done" in page.inner_text("#study-status")
    assert frame.locator("#table-heatmap_fast_slow").count() == 1
    assert frame.locator("#block-scatter_fast svg circle").count() >= 10
    assert frame.locator("#table-trials tbody tr").count() == 12
    w.shot("21-study-report")
    page.goto(f"{live.base}/#/optimizations")
    page.wait_for_selector("#studies-table")
    assert page.locator("#studies-table tbody tr").count() == 1
    assert "12 / 12" in page.inner_text("#studies-table")
    w.shot("22-studies")


def test_run_a_walk_forward_from_the_form_and_read_its_report(
    open_page: Callable[..., Watched],
    live: Live,
) -> None:
    w = open_page()
    w.expected.append("status of 422")
    sign_in(w, live, "ana")
    page = w.page
    page.goto(f"{live.base}/#/walk-forwards")
    page.wait_for_selector("#strategy option", state="attached")
    labelled(page)
    _fill_search(page)
    page.fill("#train", "3000")  # longer than the data: no fold fits
    page.click("#run")
    expect(page.locator('[data-error-for="folds"]')).to_contain_text("no walk-forward fold fits")
    page.fill("#train", "1200")
    page.fill("#test", "400")
    page.click("#run")
    frame = page.frame_locator("#report-frame")
    frame.locator("body[data-charts-drawn]").wait_for(timeout=120_000)
    assert frame.locator("#table-folds tbody tr").count() == 4
    assert frame.locator("#block-fold_spans svg rect").count() >= 8
    assert frame.locator("#chart-oos_equity canvas").count() >= 1
    w.shot("23-walk-forward")
    page.wait_for_selector("#walk-forwards-table")  # it was stored: listed, its report reopens
    page.locator("#walk-forwards-table tbody a").first.click()
    page.wait_for_url(re.compile(r"#/walk-forwards/[0-9a-f]{32}$"))
    stored = page.frame_locator("#report-frame")
    stored.locator("body[data-charts-drawn]").wait_for(timeout=60_000)
    assert stored.locator("#table-folds tbody tr").count() == 4


def test_alert_rules_history_and_channels_by_role(
    open_page: Callable[..., Watched],
    live: Live,
) -> None:
    w = open_page()
    w.expected.append("status of 422")
    sign_in(w, live, "alice")
    page = w.page
    page.goto(f"{live.base}/#/alerts")
    page.wait_for_selector("#rule-form")
    page.wait_for_selector("#channels h2")
    page.wait_for_selector("#history h2")
    labelled(page)
    page.fill("#rule-name", "Bad Name")
    page.select_option("#rule-kind", "collector_stale")
    page.fill("#rule-threshold", "15")
    page.click("#add-rule")
    expect(page.locator('#rule-form [data-error-for="name"]')).to_contain_text("name")
    page.fill("#rule-name", "kraken-stale")
    page.fill("#rule-match", "kraken:*")
    page.click("#add-rule")
    page.wait_for_selector("#rules-table")
    expect(page.locator("#alert-message")).to_contain_text("added")
    assert "kraken-stale" in page.inner_text("#rules-table")
    w.shot("24-alerts")
    page.click('[data-delete="kraken-stale"]')
    expect(page.locator("#alert-message")).to_contain_text("deleted")
    assert page.locator('[data-delete="kraken-stale"]').count() == 0

    viewer = open_page()
    sign_in(viewer, live, "vera")
    assert "Alerts" not in viewer.page.inner_text("#nav")
    viewer.page.goto(f"{live.base}/#/walk-forwards")
    viewer.page.wait_for_selector("#walk-forwards h2")
    assert viewer.page.locator("#walk-form").count() == 0  # reads them, runs none
    viewer.page.goto(f"{live.base}/#/alerts")
    viewer.page.wait_for_selector("#forbidden")
    viewer.page.goto(f"{live.base}/#/optimizations")
    viewer.page.wait_for_selector("#studies, #studies-table")
    assert viewer.page.locator("#new-study").count() == 0  # a viewer starts no study
    viewer.shot("25-viewer-optimizations")
    refused = httpx.post(
        f"{live.base}/api/v1/alerts/rules",
        json={"name": "x", "kind": "breaker_open"},
        headers=live.bearer("vera"),
    )
    assert refused.status_code == 403


def test_the_backtest_list_filters_sorts_and_pages(
    open_page: Callable[..., Watched],
    live: Live,
) -> None:
    for series in ("kraken:BTC/USD:1m", "coinbase:BTC/USD:1m"):
        made = httpx.post(
            f"{live.base}/api/v1/backtests",
            json={**SMA, "series": [series], "params": {"fast": 7, "slow": 40}},
            headers=live.bearer("alice"),
            timeout=60,
        )
        assert made.status_code == 201, made.text
    w = open_page()
    w.expected.append("status of 422")
    sign_in(w, live, "alice")
    page = w.page
    page.goto(f"{live.base}/#/backtests")
    page.wait_for_selector("#runs-table")
    labelled(page)
    page.fill("#venue-filter", "coinbase")
    page.select_option("#sort-filter", "sharpe")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"venue=coinbase"))
    page.wait_for_selector("#runs-table")
    series = page.locator("#runs-table tbody tr td:nth-child(6)").all_inner_texts()
    assert series
    assert {s for s in series} == {"coinbase:BTC/USD:1m"}
    w.shot("26-backtests-filtered")
    page.fill("#venue-filter", "")
    page.fill("#start-filter", "yesterday")
    page.click("#apply-filters")
    page.wait_for_selector("#filter-error")
    assert "start" in page.inner_text('[data-error-for="start"]')
    page.goto(f"{live.base}/#/backtests?sort=sharpe")
    page.wait_for_selector("#runs-table")
    shown = page.locator("#runs-table tbody tr td:nth-child(9)").all_inner_texts()
    values = [float(v) for v in shown if v != "-"]
    assert values == sorted(values, reverse=True)


def test_a_running_study_shows_its_progress_then_its_report(
    open_page: Callable[..., Watched],
    live: Live,
) -> None:
    w = open_page()
    sign_in(w, live, "ana")
    page = w.page
    page.goto(f"{live.base}/#/optimizations/new")
    page.wait_for_selector("#strategy option", state="attached")
    page.select_option("#strategy", "threshold_arb")
    page.wait_for_selector("#search-threshold_bps")
    searched = page.evaluate(
        "() => Array.from(document.querySelectorAll('input[data-search]:checked')).map(e => e.id)"
    )
    for box in searched:  # the form starts with two parameters searched: keep one
        page.uncheck(f"#{box}")
    _search(page, "threshold_bps", "1", "60", "")
    page.fill("#series", "kraken:BTC/USDC:1m\nkraken:BTC/USD:1m")
    page.fill("#conversions", "kraken:BTC/USDC:1m=kraken:USDC/USD:1m")
    page.fill("#start", "2023-03-10")
    page.fill("#end", "2023-03-12")
    page.select_option("#method", "bayes")  # one trial after the other: slow enough to watch
    page.fill("#trials", "60")
    page.select_option("#objective", "net_pnl")
    page.click("#run")  # the page polls the study from its 202 on
    page.wait_for_url(re.compile(r"#/optimizations/[0-9a-f]{32}$"))
    expect(page.locator("#study-status")).to_contain_text("running")
    assert int(page.get_attribute("#study-progress", "value") or "0") < 60
    w.shot("27-study-running")
    frame = page.frame_locator("#report-frame")
    frame.locator("body[data-charts-drawn]").wait_for(timeout=240_000)
    assert "60 of 60 trials done" in page.inner_text("#study-status")
    assert frame.locator("#block-scatter_threshold_bps svg circle").count() >= 2
    assert frame.locator("#block-progress").count() == 1
