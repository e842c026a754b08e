"""Routing in the notion step, against the Notion sandbox: each task goes to the target its
team's routes choose, the choice is made once per job (a retry after a crash uses it even if
the routes changed meanwhile), and the task's later life finds its page in that database."""

from __future__ import annotations

import pytest
from notion_jobs import add_job, configure_team, harness, summary_generated, thread_resolved

from figsync_contracts import EffectIntended, JobFailed, TaskCreated, new_envelope
from figsync_notion import lifecycle
from figsync_runtime.steps import Ack
from figsync_runtime.threads import ThreadRegistry
from figsync_sandbox import BUGS_DATA_SOURCE_ID, BUGS_DATABASE_ID, TASKS_DATA_SOURCE_ID

pytestmark = pytest.mark.integration

BUGS = {"name": "Bugs", "database_id": BUGS_DATABASE_ID,
        "field_mapping": {"Name": "title", "Description": "summary", "Severity": "priority",
                          "State": "status", "Title": "", "Summary": "", "Priority": ""}}  # fmt: skip
BUG_FILE = "BUGSfile0123456789abcd"


@pytest.fixture
def notion(sandbox_api):
    sandbox_api.notion.configure(burst=1000)
    return sandbox_api


async def routed_team(store, notion, routes):
    teams = await configure_team(store, notion)
    await teams.change("default", {"notion_targets": [BUGS], "notion_routes": routes},
                       changed_by="test")  # fmt: skip
    return teams


def bug_thread():
    return thread_resolved().model_copy(update={"file_key": BUG_FILE})


async def test_tasks_go_to_the_target_their_route_chooses(event_store, notion):
    teams = await routed_team(event_store, notion, [
        {"target": "Bugs", "file_keys": [BUG_FILE]},
        {"target": "Bugs", "categories": ["development"], "priorities": ["high"]},
    ])  # fmt: skip
    h = harness(event_store, teams, notion)
    jobs = {
        "job-bug-file": await add_job(event_store, "job-bug-file", thread=bug_thread()),
        "job-dev-high": await add_job(event_store, "job-dev-high",
                                      summary=summary_generated(category="development")),
        "job-dev-low": await add_job(event_store, "job-dev-low", summary=summary_generated(
            category="development", priority="low")),
        "job-review": await add_job(event_store, "job-review"),
    }  # fmt: skip
    for summary in jobs.values():
        assert await h.deliver(summary) == ["Ack"]

    outcomes = {job: await h.outcome(job) for job in jobs}
    assert all(isinstance(o, TaskCreated) for o in outcomes.values()), outcomes
    where = {job: (o.target, o.route, o.data_source_id) for job, o in outcomes.items()}  # type: ignore[union-attr]
    assert where == {
        "job-bug-file": ("Bugs", f"route 1 (file {BUG_FILE})", BUGS_DATA_SOURCE_ID),
        "job-dev-high": ("Bugs", "route 2 (category development, priority high)",
                         BUGS_DATA_SOURCE_ID),
        "job-dev-low": ("default", "no route matched", TASKS_DATA_SOURCE_ID),
        "job-review": ("default", "no route matched", TASKS_DATA_SOURCE_ID),
    }  # fmt: skip
    bugs = {p.plain()["Figsync ID"]: p.plain() for p in notion.notion.created_pages(BUGS_DATA_SOURCE_ID)}  # fmt: skip
    tasks = {p.plain()["Figsync ID"] for p in notion.notion.created_pages(TASKS_DATA_SOURCE_ID)}
    assert set(bugs) == {"job-bug-file", "job-dev-high"}
    assert tasks == {"job-dev-low", "job-review"}
    # The target's own mapping filled its own properties.
    assert bugs["job-bug-file"]["Name"] == "Review the onboarding copy"
    assert bugs["job-bug-file"]["Severity"] == "high"
    assert bugs["job-bug-file"]["Description"].startswith("Maarten asks Anna")
    # The decision is kept with the intent, for retries.
    intents = [e for e in await event_store.read_stream("job-bug-file")
               if e.type == EffectIntended.type]  # fmt: skip
    assert intents[0].data["context"] == {
        "target": "Bugs", "database_id": BUGS_DATABASE_ID, "rule": f"route 1 (file {BUG_FILE})"}  # fmt: skip


async def test_a_retry_after_a_crash_keeps_the_target_though_the_routes_changed(
    event_store, notion
):
    teams = await routed_team(event_store, notion, [{"target": "Bugs", "file_keys": [BUG_FILE]}])
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-moved", thread=bug_thread())

    def crash() -> None:  # Notion made the page; the process dies before TaskCreated
        raise RuntimeError("killed after the page was created")

    h.deps.after_create = crash
    assert not isinstance(await h.runner.process(summary, 1), Ack)
    [page] = notion.notion.created_pages(BUGS_DATA_SOURCE_ID)
    # Meanwhile an admin sends that file's tasks to the default database instead.
    await teams.change("default", {"notion_routes": [{"target": "default", "file_keys": [
        BUG_FILE]}]}, changed_by="test")  # fmt: skip
    h.deps.after_create = lambda: None

    assert await h.deliver(summary) == ["Ack"]

    created = await h.outcome("job-moved")
    assert isinstance(created, TaskCreated)
    assert (created.reused, created.page_id, created.target) == (True, page.id, "Bugs")
    assert created.data_source_id == BUGS_DATA_SOURCE_ID
    assert notion.notion.created_pages(TASKS_DATA_SOURCE_ID) == []
    assert len(notion.notion.created_pages()) == 1
    assert len(notion.notion.requests("POST", "/v1/pages")) == 1


async def test_a_target_removed_before_the_retry_fails_the_job_naming_it(event_store, notion):
    teams = await routed_team(event_store, notion, [{"target": "Bugs", "file_keys": [BUG_FILE]}])
    h = harness(event_store, teams, notion)
    summary = await add_job(event_store, "job-orphan", thread=bug_thread())
    # An attempt decided on Bugs and died before it called Notion.
    intent = new_envelope(
        EffectIntended(step="notion", effect="notion.page", key="job-orphan",
                       context={"target": "Bugs", "database_id": BUGS_DATABASE_ID}),
        stream_id="job-orphan", team="default", source="/services/notion", causation=summary,
    )  # fmt: skip
    await event_store.append("job-orphan", [intent], expected_version=2)
    await teams.change("default", {"notion_routes": [], "notion_targets": []}, changed_by="test")

    assert await h.deliver(summary) == ["Ack"]

    failed = await h.outcome("job-orphan")
    assert isinstance(failed, JobFailed) and failed.code == "notion.target_missing"
    assert "no Notion target 'Bugs' any more" in failed.message
    assert notion.notion.created_pages() == []


async def test_the_poll_and_the_closing_step_find_pages_in_every_target(event_store, notion):
    teams = await routed_team(event_store, notion, [{"target": "Bugs", "file_keys": [BUG_FILE]}])
    await teams.change("default", {"notion_done_status": None}, changed_by="test")
    h = harness(event_store, teams, notion)
    for job, thread in (("job-poll-bug", bug_thread()), ("job-poll-task", None)):
        assert await h.deliver(await add_job(event_store, job, thread=thread)) == ["Ack"]
    [bug] = notion.notion.created_pages(BUGS_DATA_SOURCE_ID)
    [task] = notion.notion.created_pages(TASKS_DATA_SOURCE_ID)
    notion.notion.set_status(bug.id, "Fixed")  # the Bugs database's Complete group
    notion.notion.set_status(task.id, "Done")
    life = lifecycle.Lifecycle(h.deps, ThreadRegistry(event_store.pool))

    changed = await lifecycle.poll_team(life, event_store, event_store.pool, "default", 60.0)

    assert changed == 2
    for job, status in (("job-poll-bug", "Fixed"), ("job-poll-task", "Done")):
        last = (await event_store.read_stream(job))[-1]
        assert last.type.split(".")[1] == "task_status_changed"
        assert (last.data["status"], last.data["done"]) == (status, True)
    queried = {r.path for r in notion.notion.requests("POST") if r.path.endswith("/query")}
    assert queried >= {f"/v1/data_sources/{BUGS_DATA_SOURCE_ID}/query",
                       f"/v1/data_sources/{TASKS_DATA_SOURCE_ID}/query"}  # fmt: skip
