import asyncio
import json
import random
import time
from decimal import Decimal

import pytest
from projector_histories import (
    append,
    comment,
    email,
    failed,
    previewed,
    random_history,
    resolved,
    summary,
    task,
)

from figsync_contracts import (
    ConfirmationPosted,
    EffectIntended,
    JobRetryRequested,
    TeamSettingsChanged,
    summary_preview_stream_id,
    team_stream_id,
)
from figsync_projector.projection import Projection, rebuild

pytestmark = pytest.mark.integration

TABLES = ["teams", "jobs", "job_events", "daily_metrics", "errors", "costs", "model_costs"]


async def snapshot(pool) -> dict[str, list[tuple]]:
    found = {}
    for table in TABLES:
        key = "1, 2, 3" if table == "model_costs" else "1, 2"  # its primary key
        rows = await pool.fetch(f"SELECT * FROM projections.{table} ORDER BY {key}")
        found[table] = [tuple(r.values()) for r in rows]
    found["checkpoint"] = [(await pool.fetchval("SELECT position FROM projections.checkpoint"),)]
    return found


async def drain(projection: Projection, limit: int = 500) -> int:
    total = 0
    while applied := await projection.apply_batch(limit):
        total += applied
    return total


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_after_a_randomized_history_the_views_equal_a_rebuild(event_store, pg_pool, seed):
    rng = random.Random(seed)
    projection = Projection(event_store)
    appended = asyncio.create_task(random_history(event_store, seed, jobs=40))
    # The live projection runs while the history is written, in batches of random size.
    while not appended.done():
        await projection.apply_batch(rng.randint(1, 40))
        await asyncio.sleep(0)
    count = await appended
    await drain(projection, rng.randint(1, 40))
    live = await snapshot(pg_pool)

    result = await rebuild(event_store, batch_size=rng.randint(5, 60))

    assert result.events == count
    job_events = [e for e in await event_store.read_all(0, 10_000) if ":" not in e.stream_id]
    assert len(live["job_events"]) == len(job_events) > 0
    assert await snapshot(pg_pool) == live


async def test_a_job_row_tells_its_story(event_store, pg_pool):
    job = "0b4f9e65-1111-4a0c-9d3e-000000000001"
    await append(event_store, team_stream_id("acme"), TeamSettingsChanged(changes={}))
    await append(event_store, job, comment(), resolved(), summary(cost="0.0250"))
    await append(event_store, job, EffectIntended(step="notion", effect="notion.page", key=job))
    await append(event_store, job, failed("notion", "notion.rate_limited", 5))
    await append(event_store, job, JobRetryRequested(step="notion"), task(job))
    await append(event_store, job, ConfirmationPosted(comment_id="r1"))
    await drain(Projection(event_store))

    row = await pg_pool.fetchrow("SELECT * FROM projections.jobs WHERE job_id = $1", job)
    assert row["status"] == "completed"
    assert row["source"] == "webhook"
    assert (row["file_key"], row["file_name"], row["comment_id"]) == ("FILEKEY1", "Landing page", "c1")  # fmt: skip
    assert (row["author"], row["mention"]) == ("Anna Smith", "Bob")
    assert row["notion_url"] == f"https://notion.so/{job[:8]}"
    assert (row["error_code"], row["attempts"]) == ("notion.rate_limited", 5)
    assert row["cost_usd"] == Decimal("0.0250")
    assert row["processing_ms"] >= 0 and row["finished_at"] is not None
    types = await pg_pool.fetch(
        "SELECT type FROM projections.job_events WHERE job_id = $1 ORDER BY position", job
    )
    assert [t["type"] for t in types] == [
        "CommentReceived", "ThreadResolved", "SummaryGenerated", "EffectIntended", "JobFailed",
        "JobRetryRequested", "TaskCreated", "ConfirmationPosted",
    ]  # fmt: skip
    day = await pg_pool.fetchrow("SELECT * FROM projections.daily_metrics WHERE team = 'acme'")
    assert (day["jobs"], day["successful"], day["failed"]) == (1, 1, 1)
    # ThreadResolved + ConfirmationPosted; TaskCreated + 5 failed Notion attempts; one AI call.
    assert (day["figma_calls"], day["notion_calls"], day["ai_calls"]) == (2, 6, 1)
    assert day["cost_usd"] == Decimal("0.0250")
    error = await pg_pool.fetchrow("SELECT * FROM projections.errors")
    assert (error["team"], error["code"], error["count"]) == ("acme", "notion.rate_limited", 1)


async def test_a_failure_inside_a_batch_applies_none_of_it_and_the_next_batch_all_of_it_once(
    event_store, pg_pool
):
    count = await random_history(event_store, 7, jobs=15)
    calls = 0

    def crash_on_the_third_batch(_delta) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the process died here")

    crashing = Projection(event_store, fault=crash_on_the_third_batch)
    assert await crashing.apply_batch(10) == 10
    assert await crashing.apply_batch(10) == 10
    with pytest.raises(RuntimeError):
        await crashing.apply_batch(10)
    assert await pg_pool.fetchval("SELECT position FROM projections.checkpoint") == 20
    assert await pg_pool.fetchval("SELECT count(*) FROM projections.job_events") <= 20

    assert await drain(Projection(event_store), 10) == count - 20
    live = await snapshot(pg_pool)
    await rebuild(event_store)
    assert await snapshot(pg_pool) == live


async def test_two_projectors_at_once_apply_each_event_once(event_store, pg_pool):
    count = await random_history(event_store, 11, jobs=25)
    first, second = Projection(event_store), Projection(event_store)
    applied = await asyncio.gather(drain(first, 7), drain(second, 5))
    assert sum(applied) == count
    live = await snapshot(pg_pool)
    await rebuild(event_store)
    assert await snapshot(pg_pool) == live


async def test_a_projector_killed_inside_its_transaction_resumes_without_loss_or_double(
    event_store, pg_pool, spawn, tmp_path
):
    count = await random_history(event_store, 5, jobs=40)
    marker = tmp_path / "hung"
    hung = spawn(
        "figsync_projector.main",
        wait_ready=False,  # it hangs (blocking its event loop) as soon as it leads
        FIGSYNC_PROJECTOR_BATCH_SIZE="25",
        FIGSYNC_TESTKIT_PROJECTOR_HANG_IN_BATCH=str(marker),
        FIGSYNC_TESTKIT_PROJECTOR_HANG_AFTER_POSITION="60",
    )
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline, hung.logs()[-3000:]
        await asyncio.sleep(0.05)
    hanging_at = int(marker.read_text())
    committed = await pg_pool.fetchval("SELECT position FROM projections.checkpoint")
    assert committed < hanging_at  # the hung batch is written but not committed
    hung.kill()

    spawn("figsync_projector.main", FIGSYNC_PROJECTOR_BATCH_SIZE="25")
    deadline = time.monotonic() + 20
    while await pg_pool.fetchval("SELECT position FROM projections.checkpoint") < count:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    live = await snapshot(pg_pool)
    await rebuild(event_store)
    assert await snapshot(pg_pool) == live


async def test_the_live_projector_wakes_on_notify(event_store, pg_pool, spawn):
    spawn("figsync_projector.main", FIGSYNC_PROJECTOR_POLL_INTERVAL_SECONDS="30")
    await asyncio.sleep(0.5)
    job = "0b4f9e65-1111-4a0c-9d3e-000000000002"
    started = time.monotonic()
    await append(event_store, job, email())
    while not await pg_pool.fetchval("SELECT 1 FROM projections.jobs WHERE job_id = $1", job):
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 5  # far sooner than the 30 s poll


async def test_the_thread_lifecycle_keeps_a_completed_job_completed(event_store, pg_pool):
    from figsync_contracts import (
        CommentReacted,
        SummaryRefreshed,
        TaskStatusChanged,
        TaskUpdated,
        ThreadUpdated,
    )

    job = "0b4f9e65-1111-4a0c-9d3e-000000000002"
    await append(event_store, job, comment(), resolved(), summary(cost="0.0100"), task(job))
    await append(event_store, job, ConfirmationPosted(comment_id="r1"))
    # After completion: reactions, a reply's update (an intent first), the status in Notion.
    await append(event_store, job, EffectIntended(step="thread-sync", effect="figma.reaction",
                                                  key="c1::white_check_mark:"))  # fmt: skip
    await append(event_store, job, CommentReacted(comment_id="c1", added=[":white_check_mark:"],
                                                  stands_for="task_ready"))  # fmt: skip
    await append(event_store, job, ThreadUpdated(file_key="FILEKEY1", root_comment_id="c1",
                                                 new_comment_ids=["c2"], thread=[],
                                                 origin="webhook"))  # fmt: skip
    refreshed = SummaryRefreshed(**{**summary(cost="0.0050").model_dump()})
    await append(event_store, job, refreshed)
    await append(event_store, job, EffectIntended(step="notion-update", effect="notion.update",
                                                  key="x"))  # fmt: skip
    await append(event_store, job, failed("notion-update", "notion.unavailable", 5))
    await append(event_store, job, JobRetryRequested(step="notion-update"))
    await append(event_store, job, TaskUpdated(page_id="p", comments_added=["c2"]))
    await append(event_store, job, TaskStatusChanged(page_id="p", status="Done", done=True,
                                                     origin="notion_poll"))  # fmt: skip
    await drain(Projection(event_store))

    row = await pg_pool.fetchrow("SELECT * FROM projections.jobs WHERE job_id = $1", job)
    assert row["status"] == "completed" and row["finished_at"] is not None
    assert row["cost_usd"] == Decimal("0.0150")  # the refresh costs too
    details = {
        r["type"]: json.loads(r["detail"])
        for r in await pg_pool.fetch(
            "SELECT type, detail FROM projections.job_events WHERE job_id = $1", job
        )
    }
    assert details["TaskStatusChanged"]["status"] == "Done"
    assert details["TaskUpdated"]["comments_added"] == ["c2"]


async def test_ai_cost_per_model_counts_summaries_refreshes_and_previews(event_store, pg_pool):
    from figsync_contracts import SummaryRefreshed
    from figsync_projector.views import Views

    small, big = "0b4f9e65-1111-4a0c-9d3e-000000000003", "0b4f9e65-1111-4a0c-9d3e-000000000004"
    await append(event_store, small, comment(), resolved(),
                 summary(cost="0.0010", model="claude-haiku-4-5"))  # fmt: skip
    await append(event_store, big, comment(comment_id="c2"), resolved(comment_id="c2"),
                 summary(cost="0.0300", model="claude-sonnet-4-6"))  # fmt: skip
    refreshed = summary(cost="0.0200", model="claude-sonnet-4-6").model_dump()
    await append(event_store, big, SummaryRefreshed(**refreshed))
    await append(event_store, small, summary(cost="0", source="cache", model="claude-haiku-4-5"))
    preview = previewed(cost="0.0050", model="claude-haiku-4-5")
    await append(event_store, summary_preview_stream_id("acme", preview.preview_id), preview)
    await drain(Projection(event_store))

    [month] = await Views(pg_pool).costs("acme")
    assert month["cost_usd"] == Decimal("0.0560")  # the preview counts with the summaries
    assert (month["summaries"], month["ai_summaries"], month["previews"]) == (4, 3, 1)
    assert month["input_tokens"] == 4 * 120 + 300
    models = {m["model"]: m for m in month["models"]}
    assert [m["model"] for m in month["models"]] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert models["claude-sonnet-4-6"]["cost_usd"] == Decimal("0.0500")
    assert (models["claude-sonnet-4-6"]["summaries"], models["claude-sonnet-4-6"]["previews"]) \
        == (2, 0)  # fmt: skip
    haiku = models["claude-haiku-4-5"]
    assert (haiku["cost_usd"], haiku["summaries"], haiku["ai_summaries"], haiku["previews"]) == (
        Decimal("0.0060"), 2, 1, 1
    )  # fmt: skip
    assert sum(m["cost_usd"] for m in month["models"]) == month["cost_usd"]
    day = await pg_pool.fetchrow("SELECT cost_usd, ai_calls FROM projections.daily_metrics")
    assert (day["cost_usd"], day["ai_calls"]) == (Decimal("0.0560"), 4)
    # The preview is no job: no row, no timeline entry.
    assert await pg_pool.fetchval("SELECT count(*) FROM projections.jobs") == 2
