"""Personal fields of job events are stored sealed with the job's key and read back opened;
without the key they read as erased, and nothing personal is written for an erased job."""

import json
import random
import string

import pytest

from figsync_contracts import (
    Assignment,
    CommentReceived,
    JobIgnored,
    TaskCreated,
    TeamSettingsChanged,
    ThreadComment,
    ThreadResolved,
    event_class,
    new_envelope,
)
from figsync_eventstore import stored_size
from figsync_eventstore.personal import ERASED, PREFIX, person_digest

pytestmark = pytest.mark.integration

SECRET_TEXT = "Ana wants the checkout button in brand-teal-7731"


def comment(job: str, text: str = SECRET_TEXT):
    return new_envelope(
        CommentReceived(
            origin="webhook", file_key="FILE1", comment_id="c1", author_handle="@Ana.Silva",
            author_id="u-381", text=text, mentions=["@design-ops"],
        ),
        stream_id=job, team="acme", source="/tests",
    )  # fmt: skip


def resolved(job: str):
    return new_envelope(
        ThreadResolved(
            file_key="FILE1", file_name="Checkout", file_url="https://figma.test/file/FILE1",
            comment_id="c1", root_comment_id="c1", author="Ana Silva", text=SECRET_TEXT,
            mentions=["@design-ops"],
            thread=[ThreadComment(comment_id="c1", author="Ana Silva", text=SECRET_TEXT),
                    ThreadComment(comment_id="c2", author="Bo Chen", text="teal it is")],
        ),
        stream_id=job, team="acme", source="/tests",
    )  # fmt: skip


async def stored_text(pool) -> str:
    rows = await pool.fetch("SELECT data::text FROM events ORDER BY position")
    return "\n".join(r[0] for r in rows)


async def shred(pool, job: str) -> None:
    await pool.execute(
        "UPDATE job_keys SET key = NULL, erased_at = now(), erased_reason = 'request'"
        " WHERE job_id = $1",
        job,
    )


async def test_personal_fields_are_sealed_at_rest_and_opened_on_read(event_store, pg_pool):
    await event_store.append("job-1", [comment("job-1"), resolved("job-1")], expected_version=0)

    at_rest = await stored_text(pg_pool)
    for value in (SECRET_TEXT, "Ana.Silva", "u-381", "design-ops", "Bo Chen", "teal it is"):
        assert value not in at_rest
    assert at_rest.count(PREFIX) == 8  # text, author, id, mentions; author, text, mentions, thread
    assert "FILE1" in at_rest and "Checkout" in at_rest  # not personal: stays readable

    read = await event_store.read_stream("job-1")
    assert read[0].envelope() == comment("job-1").model_copy(
        update={"id": read[0].event_id, "time": read[0].envelope().time}
    )
    thread = ThreadResolved.model_validate(read[1].data).thread
    assert [c.text for c in thread] == [SECRET_TEXT, "teal it is"]

    # What the relay publishes stays sealed; the projector's read is opened.
    published = await event_store.read_all(sealed=True)
    assert SECRET_TEXT not in json.dumps([e.data for e in published])
    assert (await event_store.read_all())[0].data["text"] == SECRET_TEXT


async def test_without_its_key_a_job_reads_as_erased_and_still_validates(event_store, pg_pool):
    await event_store.append("job-1", [comment("job-1"), resolved("job-1")], expected_version=0)
    await event_store.append("job-2", [comment("job-2", "other job")], expected_version=0)
    await shred(pg_pool, "job-1")

    first, second = await event_store.read_stream("job-1")
    assert first.data["text"] == ERASED and first.data["mentions"] == []
    assert first.data["author_handle"] == ERASED and first.data["file_key"] == "FILE1"
    event = event_class(second.type).model_validate(second.data)
    assert event.thread == [] and event.author == ERASED
    # Another job's key is untouched.
    assert (await event_store.read_stream("job-2"))[0].data["text"] == "other job"

    # Written after the erasure: nothing personal is stored, sealed or not.
    late = comment("job-1", "a reply that came after the erasure")
    await event_store.append("job-1", [late], expected_version=2)
    at_rest = await stored_text(pg_pool)
    assert "after the erasure" not in at_rest
    assert (await event_store.read_stream("job-1"))[2].data["text"] == ERASED


async def test_a_sealed_value_copied_into_another_job_does_not_open(event_store, pg_pool):
    await event_store.append("job-1", [comment("job-1")], expected_version=0)
    await event_store.append("job-2", [comment("job-2", "mine")], expected_version=0)
    [stolen] = await event_store.read_all(after=0, limit=1, sealed=True)
    forged = stolen.envelope().model_copy(update={"id": "5f0c7c77-5b8e-4a5e-9d1e-2b9f4d1b6c01",
                                                  "subject": "job-2"})  # fmt: skip
    # Stored as is (appending it again would seal the sealed string): straight into the table.
    await pg_pool.execute(
        """INSERT INTO events (stream_id, version, event_id, type, data, metadata)
           VALUES ('job-2', 2, $1, $2, $3, $4)""",
        forged.id, forged.type, forged.data, {"team": "acme"},
    )  # fmt: skip
    assert (await event_store.read_stream("job-2"))[1].data["text"] == ERASED


async def test_other_streams_and_events_without_personal_fields_are_stored_as_they_are(
    event_store, pg_pool
):
    settings = new_envelope(
        TeamSettingsChanged(changes={"name": "Acme"}, changed_by="admin"),
        stream_id="team:acme", team="acme", source="/tests",
    )  # fmt: skip
    await event_store.append("team:acme", [settings], expected_version=0)
    ignored = new_envelope(JobIgnored(reason="own_comment"), stream_id="job-3", team="acme",
                           source="/tests")  # fmt: skip
    await event_store.append("job-3", [ignored], expected_version=0)
    assert PREFIX not in await stored_text(pg_pool)
    assert await pg_pool.fetchval("SELECT count(*) FROM job_keys") == 0


async def test_the_people_a_job_names_are_indexed_as_digests(event_store, pg_pool):
    await event_store.append("job-1", [comment("job-1"), resolved("job-1")], expected_version=0)
    rows = await pg_pool.fetch("SELECT person FROM job_people WHERE job_id = 'job-1'")
    people = {r["person"] for r in rows}
    for who in ("ana.silva", "@ANA.SILVA", "u-381", "design-ops", "Ana Silva", "bo chen"):
        assert person_digest(who) in people
    assert "ana" not in " ".join(people)


async def test_an_erased_optional_object_reads_as_none_and_the_event_still_validates(
    event_store, pg_pool
):
    created = new_envelope(
        TaskCreated(page_id="p1", url="https://www.notion.so/Ship-it-p1",
                    assignee=Assignment(reason="assigned", note="assigned to Ana Silva (name "
                                        "match, 96)", user_name="Ana Silva", method="name")),
        stream_id="job-1", team="acme", source="/tests",
    )  # fmt: skip
    await event_store.append("job-1", [created], expected_version=0)
    assert "Ana Silva" not in await stored_text(pg_pool)
    assert (await event_store.read_stream("job-1"))[0].data["assignee"]["user_name"] == "Ana Silva"
    await shred(pg_pool, "job-1")
    [read] = await event_store.read_stream("job-1")
    task = TaskCreated.model_validate(read.data)
    assert (task.assignee, task.url, task.page_id) == (None, ERASED, "p1")


async def test_the_stored_size_is_that_of_the_sealed_event(event_store, pg_pool):
    """What the door and the steps measure against FIGSYNC_MAX_EVENT_BYTES is what the events
    table holds and the relay publishes, not the plain event."""
    rng = random.Random(3)
    noise = "".join(rng.choice(string.printable[:94].replace('"', "")) for _ in range(50_000))
    envelope = comment("job-size", text=noise)
    assert stored_size(envelope) > len(envelope.model_dump_json().encode()) + 2_000
    await event_store.append("job-size", [envelope], expected_version=0)
    stored = await pg_pool.fetchval("SELECT data::text FROM events WHERE stream_id = 'job-size'")
    plain_data = len(json.dumps(envelope.data))
    # The stored data grew by what stored_size says (JSONB's own spacing aside).
    growth = stored_size(envelope) - len(envelope.model_dump_json().encode())
    assert abs((len(stored) - plain_data) - growth) < 200

    other = comment("kind:not-a-job", text=noise)
    assert stored_size(other) == len(other.model_dump_json().encode())
