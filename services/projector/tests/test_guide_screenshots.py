"""The screenshots in docs/guide.md, taken from the real dashboard: a team set up the way the
guide sets one up, a few jobs, and each page the guide shows, checked before it is taken.

The pages are checked on every run. The PNGs go to a temporary folder unless
FIGSYNC_WRITE_GUIDE_IMAGES=1 (`make screenshots`), which writes them to docs/images/."""

import os
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from projector_histories import NOW, append, email
from test_dashboard_browser import CHROMIUM, browser, playwright_api  # noqa: F401

from figsync_contracts import (
    CommentReceived,
    ConfirmationPosted,
    EffectIntended,
    JobFailed,
    JobIgnored,
    SummaryGenerated,
    TaskCreated,
    ThreadComment,
    ThreadResolved,
)
from figsync_projector.auth import issue_token
from figsync_runtime.secrets import DEVELOPMENT_KEY, SecretBox
from figsync_runtime.teams import TeamRepository

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "guide.md"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium); Playwright's own browsers are never downloaded",
    ),
]
VIEWPORT = {"width": 1280, "height": 800}
IMAGES = ("signin", "overview", "jobs", "job", "settings", "secrets", "inbound", "team")

FILE_KEY = "k3PqR7mWx2"
FAILED_JOB = "5f0c2a71-7d1e-4c55-9a0e-1c2d3e4f5a61"


@pytest.fixture
def images(tmp_path) -> Path:
    if os.environ.get("FIGSYNC_WRITE_GUIDE_IMAGES") == "1":
        where = ROOT / "docs" / "images"
    else:
        where = tmp_path / "images"
    where.mkdir(parents=True, exist_ok=True)
    return where


def _thread(file_name: str, comment: str, text: str, author: str) -> ThreadResolved:
    return ThreadResolved(
        file_key=FILE_KEY, file_name=file_name,
        file_url=f"https://www.figma.com/design/{FILE_KEY}?comment={comment}",
        comment_id=comment, root_comment_id=comment, author=author, text=text,
        mentions=["@Anna Smith"], match_score=0.97,
        thread=[ThreadComment(comment_id=comment, author=author, text=text, created_at=NOW)],
    )  # fmt: skip


def _summary(title: str, summary: str, cost: str, source: str = "ai") -> SummaryGenerated:
    return SummaryGenerated(
        title=title, summary=summary, action_items=[summary], priority="high",
        category="design", model="claude-haiku-4-5", prompt_version="3",
        input_tokens=850, output_tokens=160, cost_usd=Decimal(cost), source=source,
        fallback_reason=None if source == "ai" else "ai_disabled",
    )  # fmt: skip


async def _completed(store, n: int, title: str, text: str) -> str:
    job = str(uuid.uuid4())
    comment = f"{1000 + n}"
    await append(
        store, job, email(n), _thread("Checkout — v3", comment, text, "Ben Ortiz"),
        _summary(title, text, "0.0021"),
        EffectIntended(step="notion", effect="notion.page", key=job),
        TaskCreated(page_id=f"page-{n}", url=f"https://www.notion.so/acme/{title.replace(' ', '-')}-{n}"),
        ConfirmationPosted(comment_id=f"{2000 + n}"),
    )  # fmt: skip
    return job


async def seed_team(event_store) -> str:
    """The team as the guide sets it up, with four jobs; returns an admin token."""
    teams = TeamRepository(event_store, SecretBox(DEVELOPMENT_KEY))
    await teams.change(
        "acme",
        {
            "name": "Acme Design",
            "tracked_mentions": ["@Anna Smith", "@Design Team"],
            "figma_files": [FILE_KEY],
            "figma_plan": "organization",
            "figma_seat": "full",
            "notion_database_id": "https://www.notion.so/acme/1f2e3d4c5b6a47989a0b1c2d3e4f5a6b",
            "notion_field_mapping": {
                "Name": "title",
                "Figma": "figma_thread_url",
                "Assignee": "mentioned_user",
            },
            "ai_monthly_budget_usd": Decimal("25"),
            "recipient_addresses": ["figma@acme.example"],
        },
        secrets={
            "figma_token": "figd_EXAMPLE-not-a-real-token",
            "notion_token": "ntn_EXAMPLE-not-a-real-token",
            "anthropic_api_key": "sk-ant-EXAMPLE-not-a-real-key",
            "email_webhook_secret": "whsec_RVhBTVBMRS1ub3QtYS1yZWFsLXNlY3JldA==",
        },
        changed_by="guide",
    )
    await _completed(event_store, 1, "Tighten the checkout button spacing",
                     "@Anna Smith the primary button needs 16px more room on mobile")  # fmt: skip
    await _completed(event_store, 2, "Use the new error colour on forms",
                     "@Anna Smith can we switch the form errors to the red from the new palette?")  # fmt: skip
    await append(
        event_store, str(uuid.uuid4()),
        CommentReceived(origin="webhook", file_key=FILE_KEY, file_name="Checkout — v3",
                        comment_id="1003", author_handle="Ben Ortiz",
                        text="@Chris looks good to me", mentions=["@Chris"]),
        JobIgnored(reason="mention_not_tracked",
                   detail="mentions ['@Chris']; tracked: ['@Anna Smith', '@Design Team']"),
    )  # fmt: skip
    await append(
        event_store, FAILED_JOB, email(4),
        _thread("Checkout — v3", "1004", "@Design Team the empty cart state is missing", "Ben Ortiz"),
        _summary("Design the empty cart state", "The empty cart state is missing", "0.0019"),
        JobFailed(
            step="notion", code="notion.database_not_shared", attempts=1,
            message='share the database "Design tasks" with the integration "figsync" (in '
            'Notion: open the database, ••• → Connections → add "figsync"), or check the '
            "team's notion_database_id",
        ),
    )  # fmt: skip
    return (await issue_token(event_store.pool, "acme", "admin", name="guide")).token


async def test_the_guide_s_screenshots_show_working_pages(event_store, spawn, browser, images):  # noqa: F811
    token = await seed_team(event_store)
    service = spawn(
        "figsync_projector.main", FIGSYNC_PUBLIC_INGEST_URL="https://figsync.acme.example"
    )
    expect = playwright_api.expect
    context = await browser.new_context(base_url=service.url, viewport=VIEWPORT)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )

    await page.goto("/t/acme/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("input[name=token]")).to_be_visible()
    await page.screenshot(path=images / "signin.png")
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")

    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("[data-stat=total]")).to_have_text("4", timeout=10_000)
    await expect(page.get_by_text("notion.database_not_shared").first).to_be_visible()
    await page.screenshot(path=images / "overview.png")

    await page.click("nav >> text=Jobs")
    await expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    await expect(page.locator("tr[id^=job-]")).to_have_count(4)
    await expect(page.locator(f"#job-{FAILED_JOB} .badge")).to_have_text("failed")
    await page.screenshot(path=images / "jobs.png")

    await page.click(f"#job-{FAILED_JOB} a")
    await expect(page.locator("#job-status")).to_have_text("failed")
    await expect(page.get_by_role("alert")).to_contain_text("notion.database_not_shared")
    await expect(page.locator("#retry")).to_be_visible()
    await page.screenshot(path=images / "job.png")

    await page.click("nav >> text=Settings")
    await expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    await expect(page.locator("textarea[name=tracked_mentions]")).to_have_value(
        "@Anna Smith\n@Design Team"
    )
    await expect(page.locator("select[name=figma_plan]")).to_have_value("organization")
    await page.screenshot(path=images / "settings.png")

    secrets = page.locator("#secrets-form")
    await secrets.evaluate("form => form.scrollIntoView({block: 'start'})")
    await expect(secrets.get_by_role("heading", name="Secrets")).to_be_visible()
    for name in ("figma_token", "notion_token", "anthropic_api_key", "email_webhook_secret"):
        await expect(page.locator(f"[data-secret={name}]")).to_have_text("set")
    await expect(page.locator("[data-secret=slack_webhook_url]")).to_have_text("not set")
    assert "EXAMPLE-not-a-real" not in await page.content()
    await page.screenshot(path=images / "secrets.png")

    await page.click("nav >> text=Inbound setup")
    await expect(page.get_by_role("heading", name="Inbound setup")).to_be_visible()
    await expect(
        page.get_by_text("https://figsync.acme.example/v1/teams/acme/inbound/postmark").first
    ).to_be_visible()
    await expect(page.get_by_text("figma@acme.example").first).to_be_visible()
    await page.screenshot(path=images / "inbound.png")

    await page.click("nav >> text=Team")
    await expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    await expect(page.get_by_text("guide").first).to_be_visible()
    await page.screenshot(path=images / "team.png")

    await context.close()
    assert not problems, problems
    assert "Traceback" not in service.logs()
    for name in IMAGES:
        assert (images / f"{name}.png").stat().st_size > 10_000, name


def test_the_guide_embeds_every_screenshot_and_each_is_committed():
    embedded = set(re.findall(r"\]\(images/([a-z_-]+)\.png\)", GUIDE.read_text()))
    assert embedded == set(IMAGES), embedded ^ set(IMAGES)
    missing = [name for name in IMAGES if not (ROOT / "docs" / "images" / f"{name}.png").exists()]
    assert not missing, f"run `make screenshots` to write {missing} into docs/images/"
