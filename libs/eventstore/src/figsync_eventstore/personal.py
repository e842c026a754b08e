"""Personal data in job events, encrypted with a key per job: erasing a job shreds its key.

Each event class names its personal fields (`Event.personal`). When such an event is appended
to a job's stream, those fields are stored as `figsync:enc:v1:<kind>:<base64>` — the value as
JSON, compressed, sealed with AES-GCM under the job's key, bound to the stream and the field
name — so the events table, NATS messages (the relay publishes what is stored) and backups
hold no personal data in clear. Reads open them again with the key. Once the key is gone
(`figsync erase`, retention) a field reads as erased: "[erased]" for text, empty for a list or
an object, so every event still validates, folds and replays, and carries nothing personal.

Keys live in `job_keys` (migration 0014), apart from the events; `job_people` holds digests of
the handles and addresses each job names, so an erasure by person finds its jobs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from figsync_contracts import EVENT_TYPES, Envelope

ERASED = "[erased]"
PREFIX = "figsync:enc:v1:"
_EMPTY = {"s": ERASED, "l": [], "d": {}, "o": None}


def is_job_stream(stream_id: str) -> bool:
    """Job streams are ids derived from the source; others are named `kind:...`."""
    return ":" not in stream_id


def personal_fields(event_type: str) -> frozenset[str]:
    cls = EVENT_TYPES.get(event_type)
    return cls.personal if cls is not None else frozenset()


def has_personal(event_type: str, data: Mapping[str, Any]) -> bool:
    return any(data.get(name) not in (None, "", [], {}) for name in personal_fields(event_type))


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "s"
    if isinstance(value, list):
        return "l"
    if isinstance(value, dict):
        return "d"
    return "o"


def _aad(stream_id: str, name: str) -> bytes:
    return f"{stream_id}/{name}".encode()


def seal(
    stream_id: str, event_type: str, data: Mapping[str, Any], key: bytes | None
) -> dict[str, Any]:
    """The event's data with its personal fields sealed under `key` (None: the job is erased,
    so they are stored erased)."""
    names = personal_fields(event_type)
    if not names:
        return dict(data)
    aead = AESGCM(key) if key is not None else None
    sealed = dict(data)
    for name in names:
        value = data.get(name)
        if value in (None, "", [], {}):
            continue
        kind = _kind(value)
        if aead is None:
            sealed[name] = _erased(event_type, name, kind)
            continue
        nonce = os.urandom(12)
        plain = zlib.compress(json.dumps(value, separators=(",", ":"), default=str).encode())
        box = aead.encrypt(nonce, plain, _aad(stream_id, name))
        sealed[name] = f"{PREFIX}{kind}:{base64.b64encode(nonce + box).decode()}"
    return sealed


_SIZING_KEY = bytes(32)  # a sealed field's length does not depend on the key


def stored_size(envelope: Envelope) -> int:
    """Bytes of the envelope as stored and published: its personal fields sealed (compressed,
    then base64, a third larger), so incompressible text grows ~10 % and prose shrinks."""
    plain = len(envelope.model_dump_json().encode())
    if not is_job_stream(envelope.subject) or not has_personal(envelope.type, envelope.data):
        return plain
    data = seal(envelope.subject, envelope.type, envelope.data, _SIZING_KEY)
    return max(plain, len(envelope.model_copy(update={"data": data}).model_dump_json().encode()))


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_in(event_type: str, data: Mapping[str, Any]) -> bool:
    return any(is_sealed(data.get(name)) for name in personal_fields(event_type))


def unseal(
    stream_id: str, event_type: str, data: Mapping[str, Any], key: bytes | None
) -> dict[str, Any]:
    """The event's data with its sealed fields opened (erased when the key is gone, or when a
    value does not open with it)."""
    opened = dict(data)
    aead = AESGCM(key) if key is not None else None
    for name in personal_fields(event_type):
        value = data.get(name)
        if not is_sealed(value):
            continue
        kind, _, payload = value[len(PREFIX) :].partition(":")
        erased = _erased(event_type, name, kind)
        if aead is None:
            opened[name] = erased
            continue
        try:
            raw = base64.b64decode(payload)
            plain = aead.decrypt(raw[:12], raw[12:], _aad(stream_id, name))
            opened[name] = json.loads(zlib.decompress(plain))
        except (InvalidTag, ValueError, zlib.error):
            opened[name] = erased
    return opened


def _erased(event_type: str, name: str, kind: str) -> Any:
    """What an erased field reads as: None where the field may be None by default (an
    optional object such as TaskCreated.assignee), else "[erased]" or an empty list or object."""
    cls = EVENT_TYPES.get(event_type)
    field = cls.model_fields.get(name) if cls is not None else None
    if field is not None and not field.is_required() and field.default is None:
        return None
    return _EMPTY.get(kind)


def normalize_person(identifier: str) -> str:
    """`@Ana.Silva ` → `ana.silva`; addresses compare without case too."""
    return identifier.strip().lstrip("@").strip().lower()


def person_digest(identifier: str) -> str:
    """What `job_people` keeps of a handle, user id or address: a digest, never the value."""
    return hashlib.sha256(b"figsync-person\0" + normalize_person(identifier).encode()).hexdigest()


def _names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item
            elif isinstance(item, Mapping):
                author = item.get("author")
                if isinstance(author, str):
                    yield author


def people_in(event_type: str, data: Mapping[str, Any]) -> set[str]:
    """Digests of every person an event's data names (see `Event.people`)."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        return set()
    found: set[str] = set()
    for name in cls.people:
        for person in _names(data.get(name)):
            if normalize_person(person):
                found.add(person_digest(person))
    return found


class JobKeys:
    """The job keys table: one AES-256 key per job, created on first use, shredded by erasure."""

    async def key_for(self, conn: asyncpg.Connection, job_id: str, team: str) -> bytes | None:
        """The job's key, made now if it has none; None once the job has been erased."""
        row = await conn.fetchrow("SELECT key FROM job_keys WHERE job_id = $1", job_id)
        if row is None:
            row = await conn.fetchrow(
                """INSERT INTO job_keys (job_id, team, key) VALUES ($1, $2, $3)
                   ON CONFLICT (job_id) DO NOTHING RETURNING key""",
                job_id, team, AESGCM.generate_key(bit_length=256),
            )  # fmt: skip
            if row is None:  # another writer made it first
                row = await conn.fetchrow("SELECT key FROM job_keys WHERE job_id = $1", job_id)
        return None if row is None else row["key"]

    async def keys(self, conn: asyncpg.Connection, job_ids: Iterable[str]) -> dict[str, bytes]:
        """The keys of those jobs that still have one."""
        rows = await conn.fetch(
            "SELECT job_id, key FROM job_keys WHERE job_id = ANY($1::text[]) AND key IS NOT NULL",
            sorted(set(job_ids)),
        )
        return {r["job_id"]: r["key"] for r in rows}

    async def remember_people(
        self, conn: asyncpg.Connection, job_id: str, team: str, digests: Iterable[str]
    ) -> None:
        people = sorted(set(digests))
        if people:
            await conn.execute(
                """INSERT INTO job_people (person, job_id, team)
                   SELECT unnest($1::text[]), $2, $3 ON CONFLICT DO NOTHING""",
                people, job_id, team,
            )  # fmt: skip
