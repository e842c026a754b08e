"""Commands of the `figsync` CLI: projections rebuild, replay, jobs retry, teams."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any


def register(commands: argparse._SubParsersAction) -> None:
    """Add `projections`, `replay`, `jobs` and `teams` to the figsync CLI."""
    projections = commands.add_parser("projections", help="the projector's views")
    actions = projections.add_subparsers(dest="action", required=True)
    rebuild = actions.add_parser(
        "rebuild", help="rebuild every view from the event store, then swap it in atomically"
    )
    rebuild.add_argument("--batch-size", type=int, default=5000)
    rebuild.set_defaults(func=_rebuild)

    replay = commands.add_parser(
        "replay", help="re-publish stored events to NATS (idempotent: stuck jobs move on)"
    )
    replay.add_argument("--from-position", type=int, required=True)
    replay.add_argument("--to-position", type=int)
    replay.add_argument(
        "--type", action="append", default=[], dest="types",
        help="only this event type (ThreadResolved or figsync.thread_resolved.v1); repeatable",
    )  # fmt: skip
    replay.add_argument(
        "--replay-id", help="reuse to make a re-run within the duplicate window a no-op"
    )
    replay.set_defaults(func=_replay)

    jobs = commands.add_parser("jobs", help="act on jobs")
    job_actions = jobs.add_subparsers(dest="action", required=True)
    retry = job_actions.add_parser("retry", help="re-drive a failed or deferred job")
    retry.add_argument("job", help="the job id")
    retry.add_argument("--by", default="cli", help="who asks (recorded in the event)")
    retry.set_defaults(func=_retry)

    teams = commands.add_parser("teams", help="teams and their API tokens")
    team_actions = teams.add_subparsers(dest="action", required=True)
    create = team_actions.add_parser(
        "create", help="create a team and print its first admin token (shown once)"
    )
    create.add_argument("name", help="the team id: lowercase letters, digits, dashes")
    create.add_argument("--display-name", default="", help="a human name (default: the id)")
    create.set_defaults(func=_team_create)
    token = team_actions.add_parser(
        "token", help="print a new API token for an existing team (shown once)"
    )
    token.add_argument("team")
    token.add_argument("--role", choices=["member", "admin"], default="member")
    token.add_argument("--name", default="", help="who or what uses it")
    token.set_defaults(func=_team_token)
    team_actions.add_parser("list", help="list teams").set_defaults(func=_team_list)


def _settings():
    from figsync_projector.settings import ProjectorSettings
    from figsync_runtime import load_settings

    return load_settings(ProjectorSettings)


def _with_store(work: Callable[[Any, Any], Awaitable[int]]) -> int:
    from figsync_eventstore import PostgresEventStore, create_pool

    settings = _settings()
    if not settings.database_url:
        print("settings.missing: set FIGSYNC_DATABASE_URL", file=sys.stderr)
        return 2

    async def main() -> int:
        pool = await create_pool(settings.database_url, max_size=4)
        try:
            return await work(PostgresEventStore(pool), settings)
        finally:
            await pool.close()

    return asyncio.run(main())


class _Bar:
    """A tqdm bar fed with (done, total) callbacks."""

    def __init__(self, description: str, unit: str = "event") -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=description, unit=unit, unit_scale=True, file=sys.stderr)

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _rebuild(args: argparse.Namespace) -> int:
    from figsync_projector.projection import RebuildRunning, rebuild

    async def work(store, _settings) -> int:
        bar = _Bar("rebuilding views")
        try:
            result = await rebuild(store, batch_size=args.batch_size, progress=bar)
        except RebuildRunning as error:
            print(error, file=sys.stderr)
            return 1
        finally:
            bar.close()
        rate = result.events / result.seconds if result.seconds else 0.0
        print(f"views rebuilt: {result.events} events up to position {result.position} "
              f"in {result.seconds:.1f} s ({rate:,.0f} events/s), swapped in")  # fmt: skip
        return 0

    return _with_store(work)


def _replay(args: argparse.Namespace) -> int:
    from figsync_projector.replay import ReplayError, replay

    async def work(store, settings) -> int:
        if not settings.nats_url:
            print("settings.missing: set FIGSYNC_NATS_URL", file=sys.stderr)
            return 2
        bar = _Bar("replaying")
        try:
            result = await replay(
                store, settings.nats_url, from_position=args.from_position,
                to_position=args.to_position, types=args.types, replay_id=args.replay_id,
                stream=settings.stream(), progress=bar,
            )  # fmt: skip
        except ReplayError as error:
            print(error, file=sys.stderr)
            return 2
        finally:
            bar.close()
        print(f"replay {result.replay_id}: published {result.published} of {result.scanned} "
              f"events (positions {args.from_position}..{result.last_position})")  # fmt: skip
        return 0

    return _with_store(work)


def _retry(args: argparse.Namespace) -> int:
    from figsync_projector.commands import CommandError, request_retry

    async def work(store, _settings) -> int:
        try:
            done = await request_retry(store, args.job, requested_by=args.by)
        except CommandError as error:
            print(f"{error.code}: {error.message}", file=sys.stderr)
            return 1
        print(f"retry requested: job {done.job_id} (team {done.team}) from step {done.step} "
              f"(event {done.event_id})")  # fmt: skip
        return 0

    return _with_store(work)


def _repository(store, settings):
    from figsync_runtime.service import secret_box
    from figsync_runtime.teams import TeamRepository

    return TeamRepository(store, secret_box(settings))


def _team_create(args: argparse.Namespace) -> int:
    from figsync_projector.auth import issue_token
    from figsync_runtime.teams import TeamError, check_team_id

    async def work(store, settings) -> int:
        try:
            team = check_team_id(args.name)
        except TeamError as error:
            print(error, file=sys.stderr)
            return 2
        teams = _repository(store, settings)
        if await teams.get(team) is not None:
            print(f"team.exists: team {team!r} exists; `figsync teams token {team} --role admin` "
                  "makes another token", file=sys.stderr)  # fmt: skip
            return 1
        await teams.change(team, {"name": args.display_name or team}, changed_by="cli")
        issued = await issue_token(store.pool, team, "admin", name="bootstrap", created_by="cli")
        print(f"team {team} created. Its admin token (shown once, keep it safe):", file=sys.stderr)
        print(issued.token)
        return 0

    return _with_store(work)


def _team_token(args: argparse.Namespace) -> int:
    from figsync_projector.auth import issue_token
    from figsync_runtime.teams import TeamError

    async def work(store, settings) -> int:
        try:
            exists = await _repository(store, settings).get(args.team) is not None
        except TeamError as error:
            print(error, file=sys.stderr)
            return 2
        if not exists:
            print(
                f"team.not_found: no team {args.team!r} (`figsync teams create`)", file=sys.stderr
            )
            return 1
        issued = await issue_token(
            store.pool, args.team, args.role, name=args.name, created_by="cli"
        )
        print(f"{args.role} token {issued.token_id} for team {args.team} (shown once):",
              file=sys.stderr)  # fmt: skip
        print(issued.token)
        return 0

    return _with_store(work)


def _team_list(_: argparse.Namespace) -> int:
    async def work(store, settings) -> int:
        for team in await _repository(store, settings).teams():
            print(team)
        return 0

    return _with_store(work)
