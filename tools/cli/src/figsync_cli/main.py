"""The `figsync` command: migrate, relay, dev, sandbox, schemas, secret-key."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def _migrate(_: argparse.Namespace) -> int:
    from figsync_eventstore import migrate
    from figsync_runtime import RuntimeSettings, load_settings

    settings = load_settings(RuntimeSettings)
    if not settings.database_url:
        print("settings.missing: set FIGSYNC_DATABASE_URL", file=sys.stderr)
        return 2
    applied = asyncio.run(migrate(settings.database_url))
    print(f"migrations applied: {applied}" if applied else "database is up to date")
    return 0


def _relay(args: argparse.Namespace) -> int:
    if args.action == "run":
        from figsync_runtime.relay_main import main

        main()
        return 0
    return asyncio.run(_relay_parked(args))


async def _relay_parked(args: argparse.Namespace) -> int:
    """List the events the relay parked, or publish them again (`redrive`)."""
    import nats

    from figsync_eventstore import create_pool
    from figsync_eventstore.relay import parked_events, redrive_parked
    from figsync_runtime import RuntimeSettings, load_settings

    settings = load_settings(RuntimeSettings)
    database_url, nats_url = settings.require_urls()
    pool = await create_pool(database_url, max_size=2)
    try:
        if args.action == "parked":
            for parked in await parked_events(pool):
                print(f"{parked.position}\t{parked.type}\t{parked.stream_id}\t{parked.code}: "
                      f"{parked.error}")  # fmt: skip
            return 0
        nc = await nats.connect(nats_url)
        try:
            outcomes = await redrive_parked(pool, nc, settings.stream(), args.position or None)
        finally:
            await nc.close()
    finally:
        await pool.close()
    for position, outcome in outcomes.items():
        print(f"{position}\t{outcome}")
    if not outcomes:
        print("no parked events" + (" at those positions" if args.position else ""))
    return 0 if all(o == "published" for o in outcomes.values()) else 1


def _dev(args: argparse.Namespace) -> int:
    from figsync_cli.dev import run_dev

    return run_dev(send_fixture=args.send_fixture)


def _sandbox(args: argparse.Namespace) -> int:
    from figsync_sandbox.cli import main

    return main(args.rest) or 0


def _schemas(args: argparse.Namespace) -> int:
    from figsync_contracts.schemas import write_schemas

    if args.action == "write":
        changed = write_schemas()
        print("\n".join(changed) if changed else "schemas are up to date")
    return 0


def _parse_email(args: argparse.Namespace) -> int:
    from figsync_figma.parse import EmailParseError, parse_email, parse_message

    try:
        raw = open(args.file, "rb").read()
        looks_like_mime = args.file.endswith(".eml") or raw[:200].lstrip().lower().startswith(
            (b"from:", b"received:", b"return-path:", b"mime-version:", b"delivered-to:")
        )
        parsed = (
            parse_message(raw) if looks_like_mime else parse_email(raw.decode("utf-8", "replace"))
        )
    except OSError as error:
        print(f"parse.unreadable_file: {error}", file=sys.stderr)
        return 2
    except EmailParseError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(parsed.model_dump_json(indent=2))
    return 0


def _secret_key(_: argparse.Namespace) -> int:
    from figsync_runtime.secrets import generate_key

    print(generate_key())
    return 0


def _notion(args: argparse.Namespace) -> int:
    from figsync_notion.cli import main

    return main(args.team)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="figsync", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    relay = commands.add_parser(
        "relay", help="run the store-to-NATS relay; list or re-drive the events it parked"
    )
    relay.add_argument("action", nargs="?", choices=["run", "parked", "redrive"], default="run")
    relay.add_argument("--position", type=int, action="append", help="only this parked event")
    relay.set_defaults(func=_relay)
    dev = commands.add_parser("dev", help="run the whole system locally")
    dev.add_argument("--send-fixture", action="store_true", help=argparse.SUPPRESS)
    dev.set_defaults(func=_dev)
    sandbox = commands.add_parser("sandbox", help="run the Figma/Notion/Anthropic sandbox")
    sandbox.add_argument("rest", nargs=argparse.REMAINDER)
    sandbox.set_defaults(func=_sandbox)
    schemas = commands.add_parser("schemas", help="write the events' JSON schemas")
    schemas.add_argument("action", choices=["write"])
    schemas.set_defaults(func=_schemas)
    parse = commands.add_parser("parse-email", help="print what figsync reads from a Figma email")
    parse.add_argument("file", help="an .html body or a raw .eml message")
    parse.set_defaults(func=_parse_email)
    from figsync_cli import jobs

    jobs.register(commands)
    notion = commands.add_parser("notion", help="check a team's Notion database and mapping")
    notion.add_argument("action", choices=["check"])
    notion.add_argument("--team", default="default")
    notion.set_defaults(func=_notion)
    commands.add_parser("secret-key", help="print a new FIGSYNC_SECRET_KEY").set_defaults(
        func=_secret_key
    )
    from figsync_projector.cli import register as register_projector

    register_projector(commands)  # projections rebuild, replay, jobs retry, teams
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
