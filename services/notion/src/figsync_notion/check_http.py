"""The Notion check over HTTP, for the dashboard's Settings page (the projector calls it).

POST /internal/notion/check {"team", "database_id"?, "field_mapping"?, "targets"?}: the same
read-only check as `figsync notion check` (every target), optionally with a database, mapping
and targets not saved yet. Only figsync
services may call it: they show an HMAC of the purpose with the shared FIGSYNC_SECRET_KEY.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from figsync_notion.handlers import Teams
from figsync_notion.ports import NotionPages
from figsync_runtime.internal import HEADER, NOTION_CHECK, is_internal
from figsync_runtime.routing import MAX_NOTION_TARGETS, NotionTarget
from figsync_runtime.teams import TEAM_ID, TeamSettings

TARGETS = TypeAdapter(Annotated[list[NotionTarget], Field(max_length=MAX_NOTION_TARGETS)])


class _Draft:
    """The team as saved, with a proposed database, mapping and targets in place of the saved
    ones."""

    def __init__(
        self,
        teams: Teams,
        database_id: str | None,
        mapping: dict[str, str] | None,
        targets: list[NotionTarget] | None = None,
    ):
        self.teams, self.database_id, self.mapping = teams, database_id, mapping
        self.targets = targets

    async def get(self, team: str) -> TeamSettings | None:
        found = await self.teams.get(team)
        if found is None:
            return None
        changes: dict[str, Any] = {}
        if self.database_id:
            changes["notion_database_id"] = self.database_id
        if self.mapping is not None:
            changes["notion_field_mapping"] = self.mapping
        if self.targets is not None:
            changes["notion_targets"] = self.targets
        return found.model_copy(update=changes)

    async def get_secret(self, team: str, name: str) -> str | None:
        return await self.teams.get_secret(team, name)


def check_app(
    teams: Teams, api: NotionPages, secret_key: str, *, sync_property: str, add_sync_property: bool
) -> Starlette:
    from figsync_notion.cli import check  # the CLI module imports bootstrap, which imports this

    async def run(request: Request) -> JSONResponse:
        if not is_internal(request.headers.get(HEADER), secret_key, NOTION_CHECK):
            return _error(403, "auth.internal_only", "only figsync services may run the check")
        try:
            body = json.loads(await request.body())
            team = body["team"]
            database_id = body.get("database_id")
            mapping = body.get("field_mapping")
            if not isinstance(team, str) or not TEAM_ID.match(team):
                raise ValueError("team")
            if database_id is not None and not isinstance(database_id, str):
                raise ValueError("database_id")
            if mapping is not None and not (
                isinstance(mapping, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
            ):
                raise ValueError("field_mapping")
            targets = body.get("targets")
            if targets is not None:
                targets = TARGETS.validate_python(targets)
        except ValidationError as error:
            return _error(422, "request.invalid", f"bad check request (targets: {error})")
        except (ValueError, KeyError, TypeError) as error:
            return _error(422, "request.invalid", f"bad check request ({error})")
        report = await check(
            team, _Draft(teams, database_id, mapping, targets), api,
            sync_property=sync_property, add_sync_property=add_sync_property,
        )  # fmt: skip
        return JSONResponse(
            {"ok": not report.errors, "errors": report.errors, "lines": report.lines}
        )

    return Starlette(routes=[Route("/internal/notion/check", run, methods=["POST"])])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
