"""`figsync notion check [--team T]`: validate a team's Notion databases (its own and each
routing target's) and their mappings before any job runs. Reads only; prints one line per
finding; exits 1 when a task could not be created."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from typing import TextIO, get_args

from figsync_contracts.events import Category, Priority
from figsync_eventstore import PostgresEventStore, create_pool
from figsync_notion import mapping
from figsync_notion.adapters.notion_api import NotionApi
from figsync_notion.bootstrap import notion_api
from figsync_notion.handlers import Target, Teams, target_in, team_of
from figsync_notion.ports import NotionPages, NotionRefused
from figsync_notion.schema import Schemas, ensure_sync_property, unauthorized
from figsync_notion.settings import NotionSettings
from figsync_runtime import StepError, load_settings
from figsync_runtime.routing import DEFAULT_TARGET
from figsync_runtime.service import secret_box
from figsync_runtime.teams import DEFAULT_TEAM, TeamRepository

# The values a task field can take, where they are known in advance (for status properties).
KNOWN_VALUES: dict[str, list[str]] = {
    "status": [mapping.INITIAL_STATUS],
    "priority": list(get_args(Priority)),
    "category": list(get_args(Category)),
}


@dataclass
class Report:
    """What `notion check` found: lines to print and whether a task could be created."""

    lines: list[str] = field(default_factory=list)
    errors: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(f"  ok     {text}")

    def note(self, text: str) -> None:
        self.lines.append(f"  note   {text}")

    def error(self, error: StepError) -> None:
        self.errors += 1
        self.lines.append(f"  error  {error.code}: {error.message}")


class _EnvironmentTeam:
    """The default team before any service created it: its settings straight from the env."""

    def __init__(self, teams: Teams, env: dict[str, str]) -> None:
        self.teams, self.env = teams, env

    async def get(self, team: str):  # type: ignore[no-untyped-def]
        from figsync_runtime.teams import TeamSettings

        found = await self.teams.get(team)
        if found is None and team == DEFAULT_TEAM:
            return TeamSettings(team=team, notion_database_id=self.env.get("NOTION_DATABASE_ID"))
        return found

    async def get_secret(self, team: str, name: str) -> str | None:
        found = await self.teams.get_secret(team, name)
        if found is None and team == DEFAULT_TEAM and name == "notion_token":
            return self.env.get("NOTION_API_KEY")
        return found


async def check(
    team: str,
    teams: Teams,
    api: NotionPages,
    *,
    sync_property: str = "Figsync ID",
    add_sync_property: bool = True,
) -> Report:
    """Check that tasks of `team` can be created in each of its targets: token, database,
    sync-id property, mapping."""
    report = Report()
    try:
        settings, token = await team_of(teams, team)
        try:
            name = (await api.me(token)).get("name") or "figsync"
        except NotionRefused as error:
            raise unauthorized(team, error.message) from error
    except StepError as error:
        report.lines.append(f"team {team}:")
        report.error(error)
        return report
    for target_name in [DEFAULT_TARGET, *(t.name for t in settings.notion_targets)]:
        where = f"team {team}" if target_name == DEFAULT_TARGET else f"target {target_name}"
        try:
            target = target_in(settings, token, settings.target(target_name), target_name)
            schema = await Schemas(api, ttl=0).resolve(team, token, target.database_id)
        except StepError as error:
            report.lines.append(f"{where}:")
            report.error(error)
            continue
        report.lines.append(
            f'{where}: database "{schema.title}" (data source {schema.data_source_id}), '
            f'integration "{name}"'
        )
        await _check_target(report, api, target, schema, sync_property, add_sync_property)
    return report


async def _check_target(
    report: Report,
    api: NotionPages,
    target: Target,
    schema: mapping.Schema,
    sync_property: str,
    add_sync_property: bool,
) -> None:
    if sync_property in schema.properties or not add_sync_property:
        try:
            await ensure_sync_property(api, target.token, schema, sync_property, may_add=False)
            report.ok(f'"{sync_property}" (rich_text) holds the job id')
        except StepError as error:
            report.error(error)
    else:
        report.note(f'"{sync_property}" is missing; figsync adds it (Text) with the first task')
    bindings, problems, notes = mapping.plan(schema, target.mapping)
    for b in bindings:
        report.ok(f"{b.prop} ({b.kind}) ← {b.task_field}")
        if b.kind == "status":
            _check_status(report, schema, b)
    for problem in problems:
        report.error(problem.error())
    for text in notes:
        report.note(text)


def _check_status(report: Report, schema: mapping.Schema, b: mapping.Binding) -> None:
    values = KNOWN_VALUES.get(b.task_field)
    options = schema.options(b.prop)
    if values is None:
        report.note(
            f"{b.prop} is a status: each value of {b.task_field} must be one of its options"
        )
        return
    missing = [v for v in values if v not in options]
    if not missing:
        return
    if b.explicit:
        report.error(
            mapping.Problem(
                "notion.select_option_missing",
                f'the status property "{b.prop}" of the database "{schema.title}" has no '
                f"option {', '.join(repr(v) for v in missing)} (options: "
                f"{', '.join(options) or 'none'}); add them in Notion or map another field",
            ).error()
        )
    else:
        report.note(f"{b.prop} has no option {missing[0]!r}: new tasks keep its default status")


async def run_check(team: str, settings: NotionSettings, out: TextIO) -> int:
    if not settings.database_url:
        print("settings.missing: set FIGSYNC_DATABASE_URL", file=sys.stderr)
        return 2
    pool = await create_pool(settings.database_url, max_size=2)
    api: NotionApi = notion_api(settings, pool)
    try:
        repo = TeamRepository(PostgresEventStore(pool), secret_box(settings))
        teams = _EnvironmentTeam(repo, dict(os.environ))
        report = await check(
            team,
            teams,
            api,
            sync_property=settings.notion_sync_property,
            add_sync_property=settings.notion_add_sync_property,
        )
    finally:
        await api.aclose()
        await pool.close()
    for line in report.lines:
        print(line, file=out)
    verdict = "ok" if not report.errors else f"{report.errors} problem(s): tasks will fail"
    print(f"result: {verdict}", file=out)
    return 1 if report.errors else 0


def main(team: str | None = None, out: TextIO | None = None) -> int:
    """Entry point of `figsync notion check`."""
    settings = load_settings(NotionSettings)
    return asyncio.run(run_check(team or DEFAULT_TEAM, settings, out or sys.stdout))
