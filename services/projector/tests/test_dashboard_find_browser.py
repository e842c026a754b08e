"""The overview's charts, the Jobs page's filters and downloads, and a job's story, in a real
browser (Debian's chromium through Playwright) against the real projector process."""

import calendar
import csv
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from find_world import BROKEN, HEADER, PRICING, TRACE, WAITING, seed
from test_dashboard_browser import CHROMIUM, browser, playwright_api  # noqa: F401

from figsync_contracts.error_codes import describe
from figsync_projector.auth import issue_token
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need /usr/bin/chromium"),
]
TRACING = "http://jaeger.test/trace/{trace_id}"


@pytest.fixture
async def site(event_store, spawn, browser):  # noqa: F811
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await teams.change("acme", {"ai_monthly_budget_usd": Decimal(30)})
    await seed(event_store)
    token = (await issue_token(event_store.pool, "acme", "member", name="browser")).token
    service = spawn("figsync_projector.main", FIGSYNC_TRACING_UI_URL=TRACING)
    context = await browser.new_context(base_url=service.url, accept_downloads=True)
    page = await context.new_page()
    await page.goto("/signin?next=/t/acme/")
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await playwright_api.expect(page.locator("[data-stat=total]")).to_have_text("6", timeout=10_000)
    yield page, service
    await context.close()
    assert "Traceback" not in service.logs()


async def marks(page, chart: str) -> dict[str, list[tuple[str, float, str]]]:
    """The chart's bars and points by series: (day, value, title)."""
    found = await page.eval_on_selector_all(
        f"#chart-{chart} svg [data-series]",
        """els => els.map(e => [e.dataset.series, e.dataset.day || '', e.dataset.value || '',
                                e.querySelector('title').textContent])""",
    )
    out: dict[str, list] = {}
    for series, day, value, title in found:
        out.setdefault(series, []).append((day, float(value) if value else 0.0, title))
    return out


async def test_the_overview_charts_show_the_jobs_numbers(site, event_store):
    page, _ = site
    expect = playwright_api.expect
    today = str(datetime.now(UTC).date())
    # The tile's breakdown adds up to its total (ignored jobs included).
    parts = {p: await page.locator(f"[data-stat=breakdown] [data-part={p}]").inner_text()
             for p in ("completed", "ignored", "failed", "running")}  # fmt: skip
    assert parts == {"completed": "2 done", "ignored": "1 ignored", "failed": "2 failed",
                     "running": "1 running"}  # fmt: skip

    outcomes = await marks(page, "outcomes")
    assert {s: [(d, v) for d, v, _ in m] for s, m in outcomes.items()} == {
        "completed": [(today, 2)], "ignored": [(today, 1)], "failed": [(today, 2)],
        "open": [(today, 1)],
    }  # fmt: skip
    assert outcomes["failed"][0][2] == f"{today}: 2 failed"
    await expect(page.locator("#chart-outcomes [data-caption]")).to_have_text(
        "6 jobs created: 2 completed, 1 ignored, 2 failed, 1 in progress"
    )

    cost = await marks(page, "cost")
    assert [(d, v) for d, v, _ in cost["cost"]] == [(today, 0.875)]
    days = calendar.monthrange(datetime.now(UTC).year, datetime.now(UTC).month)[1]
    assert cost["budget"][0][2] == f"budget pace ${30 / days:,.2f} a day"
    await expect(page.locator("#chart-cost [data-caption]")).to_have_text(
        "This month $0.88 of the $30.00 budget (2.9 %)"
    )

    calls = await marks(page, "calls")
    # Figma: 4 threads read, 2 replies, 1 failed attempt; Notion: 2 tasks, 5 failed attempts.
    assert {s: m[0][1] for s, m in calls.items()} == {
        "figma_calls": 7, "notion_calls": 7, "ai_calls": 3,
    }  # fmt: skip
    # 7 of a day's 36 000 (the Professional plan's 25 a minute, a Full seat)
    assert "(0.02 % of the day's Figma budget)" in calls["figma_calls"][0][2]

    expected = await event_store.pool.fetchrow(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY processing_ms) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY processing_ms) AS p95
           FROM projections.jobs WHERE team = 'acme' AND status = 'completed'"""
    )
    processing = await marks(page, "processing")
    assert processing["p50"][0][:2] == (today, pytest.approx(expected["p50"]))
    assert processing["p95"][0][:2] == (today, pytest.approx(expected["p95"]))


async def rows(page) -> set[str]:
    ids = await page.eval_on_selector_all("#job-rows tr", "trs => trs.map(t => t.id)")
    return {i.removeprefix("job-") for i in ids}


async def test_the_jobs_page_filters_by_link_and_form_and_downloads_what_it_shows(site, tmp_path):
    page, service = site
    expect = playwright_api.expect
    for query, expected in [
        ("status=completed", {HEADER, PRICING}),
        ("file=PRICING9", {PRICING, BROKEN}),
        ("author=carla", {PRICING, BROKEN}),
        ("mention=%40Bob", {HEADER, BROKEN, WAITING}),
        ("text=prices", {PRICING}),
        ("error_code=notion.unauthorized", {BROKEN}),
        ("since=2000-01-01&until=2000-01-31", set()),
    ]:
        await page.goto(f"/t/acme/jobs?{query}")
        assert await rows(page) == expected, query
        assert await page.locator("[data-total]").inner_text() == str(len(expected))

    # The form: its filters go into the URL (a link) and come back filled in.
    await page.goto("/t/acme/jobs")
    await page.fill("input[name=mention]", "bob")
    await page.select_option("select[name=status]", "failed")
    await page.click("#apply-filters")
    await expect(page).to_have_url(f"{service.url}/t/acme/jobs?status=failed&mention=bob")
    await expect(page.locator("#job-rows tr")).to_have_count(1)
    assert await rows(page) == {BROKEN}
    await page.reload()
    await expect(page.locator("input[name=mention]")).to_have_value("bob")
    await expect(page.locator("select[name=status]")).to_have_value("failed")

    # The download is the filtered jobs, as CSV.
    await page.goto("/t/acme/jobs?mention=bob")
    async with page.expect_download() as downloading:
        await page.click("#export-csv")
    download = await downloading.value
    assert download.suggested_filename == "figsync-acme-jobs.csv"
    path = tmp_path / "jobs.csv"
    await download.save_as(path)
    with path.open(newline="") as f:
        exported = list(csv.DictReader(f))
    assert {r["job_id"] for r in exported} == {HEADER, BROKEN, WAITING}
    broken = next(r for r in exported if r["job_id"] == BROKEN)
    assert (broken["status"], broken["error_code"], broken["file_name"]) == (
        "failed", "notion.unauthorized", "Pricing",
    )  # fmt: skip
    json_link = await page.get_attribute("#export-json", "href")
    assert json_link == "/t/acme/jobs.json?mention=bob"
    exported_json = await (await page.request.get(json_link)).json()
    assert {j["job_id"] for j in exported_json["items"]} == {HEADER, BROKEN, WAITING}

    # A bad filter keeps the page and says what was wrong.
    response = await page.goto("/t/acme/jobs?since=31.12.2024")
    assert response.status == 422
    await expect(page.locator("[data-code='jobs.bad_date']")).to_contain_text("YYYY-MM-DD")
    await expect(page.locator("input[name=since]")).to_be_visible()


async def test_a_job_page_tells_the_thread_summary_links_trace_and_what_to_do(site):
    page, _ = site
    expect = playwright_api.expect
    await page.goto(f"/t/acme/jobs/{HEADER}")
    thread = page.locator("#thread li")
    await expect(thread).to_have_count(2)
    await expect(thread.nth(0)).to_contain_text("Anna Smith")
    await expect(thread.nth(0)).to_contain_text("2025-06-01 09:00:00")
    await expect(thread.nth(0)).to_contain_text("@Bob the header is too tall")
    await expect(thread.nth(1).locator("[data-resolved]")).to_contain_text("resolved")
    await expect(page.locator("#summary [data-summary]")).to_contain_text("the team agreed")
    await expect(page.locator("#summary .action-items li")).to_have_text(["do it", "check it"])
    await expect(page.locator("#summary [data-priority]")).to_have_text("high")
    await expect(page.locator("#summary [data-category]")).to_have_text("design")
    assert await page.get_attribute("#notion-link", "href") == "https://notion.so/p1"
    assert await page.get_attribute("#figma-link", "href") == (
        "https://www.figma.com/design/LANDING1/x#c1"
    )
    assert await page.get_attribute("#trace-link", "href") == f"http://jaeger.test/trace/{TRACE}"

    await page.goto(f"/t/acme/jobs/{BROKEN}")
    error = page.locator("#job-error")
    await expect(error).to_contain_text("notion.unauthorized")
    advice = describe("notion.unauthorized")
    if advice is not None:
        await expect(error.locator(".advice")).to_contain_text(advice.action[:40])
    await expect(page.locator("#retry")).to_be_visible()
    await expect(page.locator("#trace")).to_have_text("—")
