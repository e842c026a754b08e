"""A team's Notion database: resolved to its data source, its schema cached, the sync-id property
ensured, and Notion's refusals turned into errors that say what to do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from figsync_notion.mapping import Schema
from figsync_notion.ports import NotionPages, NotionRefused
from figsync_runtime import PermanentError


def plain_text(items: Any) -> str:
    return "".join(i.get("plain_text", "") for i in items or [] if isinstance(i, dict))


def unauthorized(team: str, detail: str = "") -> PermanentError:
    return PermanentError(
        "notion.unauthorized",
        f"Notion refused the integration token of team {team!r}{f' ({detail})' if detail else ''}; "
        "set a valid notion_token (the integration's internal secret, ntn_…)",
    )


async def integration_name(api: NotionPages, token: str) -> str:
    try:
        return str((await api.me(token)).get("name") or "figsync")
    except (NotionRefused, PermanentError):
        return "figsync"


async def not_shared(api: NotionPages, token: str, database: str) -> PermanentError:
    name = await integration_name(api, token)
    return PermanentError(
        "notion.database_not_shared",
        f'share the database "{database}" with the integration "{name}" (in Notion: open the '
        f'database, ••• → Connections → add "{name}"), or check the team\'s notion_database_id',
        context={"database": database, "integration": name},
    )


@dataclass
class Schemas:
    """Resolved data sources per (token, database id), with their sync-id property ensured,
    kept for `ttl` seconds."""

    api: NotionPages
    ttl: float = 60.0
    sync_property: str = "Figsync ID"
    add_sync_property: bool = True
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, str], tuple[float, Schema]] = field(default_factory=dict)
    _titles: dict[str, str] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def get(self, team: str, token: str, database_id: str, *, fresh: bool = False) -> Schema:
        key = (token, database_id)
        async with self._locks.setdefault(database_id, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached and not fresh and self.clock() - cached[0] < self.ttl:
                return cached[1]
            schema = await self.resolve(team, token, database_id)
            self._titles[database_id] = schema.title
            schema = await ensure_sync_property(
                self.api, token, schema, self.sync_property, may_add=self.add_sync_property
            )
            self._cache[key] = (self.clock(), schema)
            return schema

    async def resolve(self, team: str, token: str, database_id: str) -> Schema:
        """The configured id may name a database (with one data source) or a data source."""
        try:
            database = await self.api.database(token, database_id)
        except NotionRefused as error:
            if error.status == 401:
                raise unauthorized(team, error.message) from error
            if error.status not in (400, 404):
                raise refused(error, f"reading the database {database_id}") from error
            database = None
        if database is not None:
            sources = database.get("data_sources") or []
            title = plain_text(database.get("title")) or database_id
            if len(sources) != 1:
                names = ", ".join(f'"{s.get("name")}" ({s.get("id")})' for s in sources)
                raise PermanentError(
                    "notion.ambiguous_database",
                    f'the database "{title}" has {len(sources)} data sources ({names or "none"}); '
                    "set the team's notion_database_id to the data source tasks go to",
                    context={"database": title},
                )
            source_id = sources[0]["id"]
        else:
            title, source_id = self._titles.get(database_id, database_id), database_id
        try:
            source = await self.api.data_source(token, source_id)
        except NotionRefused as error:
            if error.status == 401:
                raise unauthorized(team, error.message) from error
            if error.status in (400, 404):
                raise await not_shared(self.api, token, title) from error
            raise refused(error, f"reading the data source {source_id}") from error
        if database is None:
            title = plain_text(source.get("title")) or title
        parent = source.get("parent") or {}
        return Schema(
            data_source_id=source["id"],
            database_id=parent.get("database_id", database_id),
            title=title,
            properties=source.get("properties") or {},
        )


def refused(error: NotionRefused, doing: str) -> PermanentError:
    """A Notion refusal nothing more specific explains."""
    if error.status == 403:
        return PermanentError(
            "notion.forbidden",
            f"Notion refused {doing}: {error.message}; give the integration the capabilities "
            "Read content, Insert content and Update content",
        )
    return PermanentError(
        f"notion.{error.code or 'bad_request'}", f"Notion refused {doing}: {error.message}"
    )


async def ensure_sync_property(
    api: NotionPages, token: str, schema: Schema, name: str, *, may_add: bool
) -> Schema:
    """The data source with its sync-id property (a rich_text holding the job id), added when
    missing and allowed."""
    existing = schema.properties.get(name)
    if existing is not None:
        if existing.get("type") != "rich_text":
            raise PermanentError(
                "notion.property_wrong_type",
                f'"{name}" in the database "{schema.title}" is a {existing.get("type")} '
                "property; figsync keeps each task's job id there and needs a Text (rich_text) "
                "property: change its type or rename it",
                context={"property": name, "type": existing.get("type"), "expected": ["rich_text"]},
            )
        return schema
    missing = PermanentError(
        "notion.property_missing",
        f'the database "{schema.title}" has no Text property "{name}", where figsync keeps each '
        "task's job id so that it never creates a task twice; add it in Notion",
        context={"property": name, "database": schema.title},
    )
    if not may_add:
        raise missing
    try:
        source = await api.add_property(token, schema.data_source_id, name, {"rich_text": {}})
    except NotionRefused as error:
        missing.message += f" (figsync could not add it: {error.message})"
        missing.args = (f"{missing.code}: {missing.message}",)
        raise missing from error
    return replace(schema, properties=source.get("properties") or {})
