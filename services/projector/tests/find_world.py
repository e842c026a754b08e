"""A team's jobs with known files, authors, mentions, texts and outcomes (filters, charts)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from projector_histories import append, email, failed

from figsync_contracts import (
    CommentReceived,
    ConfirmationPosted,
    JobIgnored,
    SummaryGenerated,
    TaskCreated,
    TeamSettingsChanged,
    ThreadComment,
    ThreadResolved,
    team_stream_id,
)

HEADER = "0b4f9e65-5555-4a0c-9d3e-000000000001"  # completed, Landing page, Anna → @Bob
PRICING = "0b4f9e65-5555-4a0c-9d3e-000000000002"  # completed, Pricing, Carla → @Anna Smith
BROKEN = "0b4f9e65-5555-4a0c-9d3e-000000000003"  # failed at notion, Pricing, Carla → @Bob
IGNORED = "0b4f9e65-5555-4a0c-9d3e-000000000004"  # ignored after the comment arrived
WAITING = "0b4f9e65-5555-4a0c-9d3e-000000000005"  # summarizing, Landing page, Dan → @Bob
EMAILED = "0b4f9e65-5555-4a0c-9d3e-000000000006"  # failed at figma (an email)
OTHER_TEAM = "0b4f9e65-5555-4a0c-9d3e-000000000007"  # globex: never shown to acme
ALL = [HEADER, PRICING, BROKEN, IGNORED, WAITING, EMAILED]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def resolved(file_key, name, comment_id, author, text, mentions, thread=()) -> ThreadResolved:
    return ThreadResolved(
        file_key=file_key, file_name=name, file_url=f"https://www.figma.com/design/{file_key}/x",
        comment_id=comment_id, root_comment_id=comment_id, author=author, text=text,
        mentions=mentions, thread=list(thread),
    )  # fmt: skip


def summary(title: str, cost: str) -> SummaryGenerated:
    return SummaryGenerated(
        title=title, summary=f"{title}: the team agreed on it", action_items=["do it", "check it"],
        priority="high", category="design", model="claude-test", prompt_version="1",
        input_tokens=100, output_tokens=50, cost_usd=Decimal(cost), source="ai",
    )  # fmt: skip


THREAD = [
    ThreadComment(comment_id="c1", author="Anna Smith", text="@Bob the header is too tall",
                  created_at=datetime(2025, 6, 1, 9, 0, tzinfo=UTC)),
    ThreadComment(comment_id="c2", author="Bob", text="On it, 48px then?",
                  created_at=datetime(2025, 6, 1, 9, 5, tzinfo=UTC),
                  resolved_at=datetime(2025, 6, 1, 10, 0, tzinfo=UTC)),
]  # fmt: skip


async def seed(store) -> None:
    from figsync_contracts import new_envelope

    await append(store, team_stream_id("acme"), TeamSettingsChanged(changes={}))
    first = new_envelope(
        CommentReceived(origin="webhook", file_key="LANDING1", file_name="Landing page",
                        comment_id="c1", author_handle="Anna Smith", text="@Bob the header",
                        mentions=["@Bob"]),
        stream_id=HEADER, team="acme", source="/tests",
        traceparent=f"00-{TRACE}-00f067aa0ba902b7-01",
    )  # fmt: skip
    await store.append(HEADER, [first], expected_version=0)
    await append(
        store, HEADER,
        resolved("LANDING1", "Landing page", "c1", "Anna Smith", "@Bob the header is too tall",
                 ["@Bob"], THREAD),
        summary("Shrink the header", "0.25"), TaskCreated(page_id="p1", url="https://notion.so/p1"),
        ConfirmationPosted(comment_id="r1"),
    )  # fmt: skip
    await append(
        store, PRICING,
        resolved("PRICING9", "Pricing", "c7", "Carla", "@Anna Smith the prices are off by 10%",
                 ["@Anna Smith"]),
        summary("Fix the prices", "0.5"), TaskCreated(page_id="p2", url="https://notion.so/p2"),
        ConfirmationPosted(comment_id="r2"),
    )  # fmt: skip
    await append(
        store, BROKEN,
        resolved("PRICING9", "Pricing", "c8", "Carla", "@Bob the footer_link is dead", ["@Bob"]),
        summary("Fix the footer link", "0.125"), failed("notion", "notion.unauthorized", 5),
    )  # fmt: skip
    await append(
        store, IGNORED,
        CommentReceived(origin="webhook", file_key="LANDING1", file_name="Landing page",
                        comment_id="c9", author_handle="Eve", text="nice", mentions=[]),
        JobIgnored(reason="mention_not_tracked"),
    )  # fmt: skip
    await append(
        store, WAITING,
        resolved("LANDING1", "Landing page", "c10", "Dan", "@bob the logo is blurry", ["@bob"]),
    )  # fmt: skip
    await append(store, EMAILED, email(5), failed("figma", "figma.comment_not_found", 1))
    await append(store, OTHER_TEAM, email(6), team="globex")
