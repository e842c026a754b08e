"""Commands of the `figsync` CLI: projections rebuild, replay, jobs retry and list, teams."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def duration(value: str) -> timedelta | None:
    """`90d`, `12h`, `30m`, or `never` (None); for --expires-in and --grace."""
    text = value.strip().lower()
    if text == "never":
        return None
    found = _DURATION.match(text)
    if not found:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration such as 90d, 12h or 30m")
    return timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


def register(commands: argparse._SubParsersAction) -> None:
    """Add `projections`, `replay`, `erase`, `jobs` and `teams` to the figsync CLI."""
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

    erase = commands.add_parser(
        "erase",
        help="erase personal data: a job's, or every job naming a person (keys shredded; "
        "events, counts and costs stay)",
    )
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--job", help="the job id")
    target.add_argument(
        "--person", help="a Figma handle (@ana), Figma user id or e-mail address, as it appeared"
    )
    erase.add_argument("--team", help="only this team's jobs (default: any team)")
    erase.add_argument("--by", default="cli", help="who asks (recorded in the audit trail)")
    erase.set_defaults(func=_erase)

    jobs = commands.add_parser("jobs", help="act on jobs")
    job_actions = jobs.add_subparsers(dest="action", required=True)
    retry = job_actions.add_parser("retry", help="re-drive a failed or deferred job")
    retry.add_argument("job", help="the job id")
    retry.add_argument("--by", default="cli", help="who asks (recorded in the event)")
    retry.set_defaults(func=_retry)
    listing = job_actions.add_parser(
        "list", help="a team's jobs, newest first, with the dashboard's and the API's filters"
    )
    listing.add_argument("--team", default="default")
    listing.add_argument(
        "--status", action="append", default=[], help="outcome or stage; repeatable"
    )
    listing.add_argument("--file", default="", help="file key or file name")
    listing.add_argument("--author", default="", help="the comment's author")
    listing.add_argument("--mention", default="", help="a mentioned handle")
    listing.add_argument("--text", default="", help="part of the title or the comment")
    listing.add_argument("--error-code", default="", help="e.g. figma.comment_not_found")
    listing.add_argument("--since", default="", help="first UTC day of creation, YYYY-MM-DD")
    listing.add_argument("--until", default="", help="last UTC day of creation, YYYY-MM-DD")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")
    listing.add_argument("--format", choices=["table", "csv", "json"], default="table")
    listing.set_defaults(func=_list_jobs)

    audited = commands.add_parser(
        "audit", help="a team's audit trail: who changed settings, secrets, tokens, members"
    )
    audited.add_argument("team")
    audited.add_argument("--limit", type=int, default=50)
    audited.add_argument("--format", choices=["table", "json"], default="table")
    audited.set_defaults(func=_audit)

    teams = commands.add_parser("teams", help="teams and their API tokens")
    team_actions = teams.add_subparsers(dest="action", required=True)
    create = team_actions.add_parser(
        "create", help="create a team and print its first admin token (shown once)"
    )
    create.add_argument("name", help="the team id: lowercase letters, digits, dashes")
    create.add_argument("--display-name", default="", help="a human name (default: the id)")
    create.set_defaults(func=_team_create)
    token = team_actions.add_parser(
        "token",
        help="print a new API token for an existing team (shown once); `token rotate ID` "
        "replaces one, `token revoke ID` ends one",
        description="`figsync teams token TEAM`: a new token (shown once). `figsync teams token "
        "rotate TOKEN_ID`: its successor with the same name and role (shown once); the old one "
        "keeps working for --grace. `figsync teams token revoke TOKEN_ID`: it stops at once.",
    )
    token.add_argument("team", metavar="TEAM | rotate | revoke")
    token.add_argument("token_id", nargs="?", metavar="TOKEN_ID", help="with rotate or revoke")
    token.add_argument("--role", choices=["member", "admin"], default="member")
    token.add_argument("--name", default="", help="who or what uses it")
    token.add_argument(
        "--expires-in", type=duration, default=False,
        help="90d, 12h, 30m, or never (default: FIGSYNC_TOKEN_TTL_DAYS, 90 days)",
    )  # fmt: skip
    token.add_argument(
        "--grace", type=duration, default=False,
        help="rotate: how long the old token keeps working (default: "
        "FIGSYNC_TOKEN_ROTATION_GRACE_HOURS, 24 h; 0m: not at all)",
    )  # fmt: skip
    token.add_argument("--by", default="cli", help="who does it (recorded in the audit trail)")
    token.set_defaults(func=_team_token)
    listed = team_actions.add_parser("tokens", help="a team's API tokens and when they expire")
    listed.add_argument("team")
    listed.set_defaults(func=_team_tokens)
    secret = team_actions.add_parser("secret", help="set or clear a team's secret")
    secret_actions = secret.add_subparsers(dest="secret_action", required=True)
    secret_set = secret_actions.add_parser(
        "set", help="set a secret; the value is read from standard input (never an argument)"
    )
    secret_clear = secret_actions.add_parser(
        "clear", help="delete a secret (the TeamSettingsChanged event names it)"
    )
    for sub in (secret_set, secret_clear):
        sub.add_argument("team")
        sub.add_argument("name", help="e.g. figma_token, notion_token, slack_webhook_url")
        sub.add_argument("--by", default="cli", help="who does it (recorded in the event)")
    secret_set.set_defaults(func=_team_secret_set)
    secret_clear.set_defaults(func=_team_secret_clear)
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


def _audit(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from figsync_projector.audit import trail

    async def work(store, _settings) -> int:
        entries = await trail(store.pool, args.team, limit=max(1, args.limit))
        if args.format == "json":
            print(json.dumps([asdict(e) for e in entries], default=str, indent=2))
            return 0
        for e in entries:
            details = json.dumps(e.details, default=str) if e.details else ""
            print(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor:<20} {e.action:<18} {e.target}  {details}")
        if not entries:
            print(f"nothing recorded for team {args.team!r}")
        return 0

    return _with_store(work)


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


def _erase(args: argparse.Namespace) -> int:
    from figsync_projector.commands import CommandError
    from figsync_projector.erasure import erase_job, erase_person

    async def work(store, _settings) -> int:
        try:
            if args.job:
                done = [await erase_job(store, args.job, reason="request", requested_by=args.by,
                                        team=args.team)]  # fmt: skip
            else:
                done = await erase_person(store, args.person, requested_by=args.by, team=args.team)
        except CommandError as error:
            print(f"{error.code}: {error.message}", file=sys.stderr)
            return 1
        for erased in done:
            state = "already erased" if erased.already else "erased"
            print(f"{state}: job {erased.job_id} (team {erased.team})")
        if not done:
            print("no job names that person (nothing to erase)")
        return 0

    return _with_store(work)


def _list_jobs(args: argparse.Namespace) -> int:
    from figsync_projector.errors import HttpError
    from figsync_projector.exports import cell, line
    from figsync_projector.filters import JobFilter
    from figsync_projector.fold import JOB_COLUMNS
    from figsync_projector.models import Job
    from figsync_projector.views import Views

    try:
        filters = JobFilter.parse(
            {"status": args.status, "file": [args.file], "author": [args.author],
             "mention": [args.mention], "text": [args.text], "error_code": [args.error_code],
             "since": [args.since], "until": [args.until]}
        )  # fmt: skip
    except HttpError as error:
        print(f"{error.code}: {error.message}", file=sys.stderr)
        return 2

    async def work(store, _settings) -> int:
        shown = 0
        if args.format == "csv":
            sys.stdout.write(line(JOB_COLUMNS))
        async for job in Views(store.pool).each_job(args.team, filters, args.limit):
            shown += 1
            if args.format == "csv":
                sys.stdout.write(line([cell(job[c]) for c in JOB_COLUMNS]))
            elif args.format == "json":
                print(Job.model_validate(job).model_dump_json())
            else:
                print(f"{job['job_id']}  {job['status']:<13} {job['created_at']:%Y-%m-%d %H:%M}  "
                      f"{job['file_name'] or job['file_key'] or '-'}  "
                      f"{job['title'] or job['error_code'] or ''}".rstrip())  # fmt: skip
        if args.format == "table":
            print(f"{shown} job{'' if shown == 1 else 's'}", file=sys.stderr)
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
        issued = await issue_token(
            store.pool, team, "admin", name="bootstrap", created_by="cli",
            expires_in=timedelta(days=settings.token_ttl_days),
        )  # fmt: skip
        print(f"team {team} created. Its admin token (shown once, keep it safe):", file=sys.stderr)
        print(issued.token)
        return 0

    return _with_store(work)


def _policy(settings, args: argparse.Namespace):
    from figsync_projector.auth import TokenPolicy

    ttl = timedelta(days=settings.token_ttl_days) if args.expires_in is False else args.expires_in
    if args.grace is None:
        raise argparse.ArgumentTypeError("--grace cannot be never; a rotated token must end")
    grace = (
        timedelta(hours=settings.token_rotation_grace_hours) if args.grace is False else args.grace
    )
    return TokenPolicy(ttl=ttl, grace=grace)


def _team_token(args: argparse.Namespace) -> int:
    if args.team in ("rotate", "revoke") and args.token_id:
        return _token_change(args)
    if args.token_id or args.team in ("rotate", "revoke"):
        print("usage: figsync teams token TEAM, or figsync teams token rotate|revoke TOKEN_ID",
              file=sys.stderr)  # fmt: skip
        return 2
    from figsync_projector.auth import AuthError, issue_token
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
        try:
            issued = await issue_token(
                store.pool, args.team, args.role, name=args.name, created_by=args.by,
                expires_in=_policy(settings, args).ttl,
            )  # fmt: skip
        except (AuthError, argparse.ArgumentTypeError) as error:
            print(error, file=sys.stderr)
            return 2
        print(f"{args.role} token {issued.token_id} for team {args.team} (shown once; "
              f"{_expiry(issued.expires_at)}):", file=sys.stderr)  # fmt: skip
        print(issued.token)
        return 0

    return _with_store(work)


def _expiry(expires_at) -> str:
    return f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"


def _token_change(args: argparse.Namespace) -> int:
    from figsync_projector.auth import AuthError, revoke_token, rotate_token

    async def work(store, settings) -> int:
        team = await store.pool.fetchval(
            "SELECT team FROM api_tokens WHERE token_id = $1", args.token_id
        )
        try:
            if team is None:
                raise AuthError(404, "token.not_found", f"no token {args.token_id!r}")
            if args.team == "revoke":
                if not await revoke_token(store.pool, team, args.token_id, actor=args.by):
                    raise AuthError(404, "token.not_found", f"token {args.token_id} is revoked")
                print(f"token {args.token_id} of team {team} revoked", file=sys.stderr)
                return 0
            policy = _policy(settings, args)
            issued = await rotate_token(store.pool, team, args.token_id, grace=policy.grace,
                                        expires_in=policy.ttl, actor=args.by)  # fmt: skip
        except (AuthError, argparse.ArgumentTypeError) as error:
            print(error, file=sys.stderr)
            return 1
        print(f"token {issued.token_id} replaces {args.token_id} of team {team}, which works until "
              f"{issued.replaced_until:%Y-%m-%d %H:%M:%S} UTC. The new {issued.role} token (shown "
              f"once; {_expiry(issued.expires_at)}):", file=sys.stderr)  # fmt: skip
        print(issued.token)
        return 0

    return _with_store(work)


def _team_tokens(args: argparse.Namespace) -> int:
    from figsync_projector.auth import list_tokens

    async def work(store, _settings) -> int:
        for t in await list_tokens(store.pool, args.team):
            state = "expired" if t["expired"] else _expiry(t["expires_at"])
            rotated = f", rotated to {t['rotated_to']}" if t["rotated_to"] else ""
            print(f"{t['token_id']}  {t['role']:<6}  {t['name'] or '-'}  ({state}{rotated})")
        return 0

    return _with_store(work)


def _team_secret_set(args: argparse.Namespace) -> int:
    value = sys.stdin.readline().strip()
    return _team_secret(args, secrets={args.name: value}, clear=())


def _team_secret_clear(args: argparse.Namespace) -> int:
    return _team_secret(args, secrets={}, clear=(args.name,))


def _team_secret(args: argparse.Namespace, secrets: dict[str, str], clear: tuple) -> int:
    from figsync_projector.admin import SettingsInvalid, check_secrets
    from figsync_runtime.teams import TeamError

    async def work(store, settings) -> int:
        teams = _repository(store, settings)
        try:
            current = await teams.get(args.team)
            if current is None:
                print(f"team.not_found: no team {args.team!r}", file=sys.stderr)
                return 1
            if clear and args.name not in current.secrets_set:
                print(f"secret.not_set: {args.name} is not set for team {args.team}",
                      file=sys.stderr)  # fmt: skip
                return 1
            values = check_secrets(secrets) if secrets else {}
            await teams.change(args.team, {}, secrets=values, clear_secrets=clear,
                               changed_by=args.by)  # fmt: skip
        except SettingsInvalid as error:
            print(f"secrets.invalid: {error.problems}", file=sys.stderr)
            return 2
        except TeamError as error:
            print(error, file=sys.stderr)
            return 2
        print(f"secret {args.name} of team {args.team} {'cleared' if clear else 'set'}",
              file=sys.stderr)  # fmt: skip
        return 0

    return _with_store(work)


def _team_list(_: argparse.Namespace) -> int:
    async def work(store, settings) -> int:
        for team in await _repository(store, settings).teams():
            print(team)
        return 0

    return _with_store(work)
