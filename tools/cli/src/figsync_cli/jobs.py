"""`figsync send-email` (sign and post an email to the ingest) and `figsync status JOB`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import httpx

DEV_EMAIL_WEBHOOK_SECRET = "whsec_Zmlnc3luYy1kZXZlbG9wbWVudC1vbmx5LXNlY3JldA=="


def register(commands: argparse._SubParsersAction) -> None:
    send = commands.add_parser(
        "send-email", help="sign and post an email (.html or .eml) to the ingest"
    )
    send.add_argument("file", type=Path)
    send.add_argument(
        "--ingest", default=os.environ.get("FIGSYNC_INGEST_URL", "http://127.0.0.1:8000")
    )
    send.add_argument("--team", help="post to this team's inbound path (default: the default team)")
    send.add_argument(
        "--sender",
        help="From address for an .html body (the file key lives here: comments-<KEY>@email.figma.com)",
    )
    send.add_argument("--to", default="you@example.com")
    send.add_argument("--subject", default="Figma notification")
    send.add_argument(
        "--message-id", help="default: a fresh one for .html, the message's own for .eml"
    )
    send.set_defaults(func=send_email)

    status = commands.add_parser("status", help="a job's timeline, for humans")
    status.add_argument("job")
    status.add_argument("--team", default="default")
    status.add_argument(
        "--api", default=os.environ.get("FIGSYNC_PROJECTOR_URL", "http://127.0.0.1:8001")
    )
    status.set_defaults(func=job_status)


def _secret() -> str:
    return os.environ.get("FIGSYNC_EMAIL_WEBHOOK_SECRET") or DEV_EMAIL_WEBHOOK_SECRET


def build_request(args: argparse.Namespace) -> tuple[str, bytes, dict[str, str]]:
    """Path, body and content type for the file: raw MIME for .eml, the JSON shape for .html."""
    raw = args.file.read_bytes()
    base = f"/v1/teams/{args.team}/inbound" if args.team else "/v1/inbound"
    if args.file.suffix.lower() == ".eml":
        return f"{base}/email/mime", raw, {"content-type": "message/rfc822"}
    message_id = args.message_id or f"<{uuid.uuid4()}@figsync.local>"
    payload = {
        "from": args.sender or "Figma <no-reply@figma.com>",
        "to": args.to,
        "subject": args.subject,
        "html": raw.decode("utf-8", "replace"),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "messageId": message_id,
    }
    return f"{base}/email", json.dumps(payload).encode(), {"content-type": "application/json"}


def send_email(args: argparse.Namespace) -> int:
    from figsync_ingest.senders import standard_headers

    try:
        path, body, headers = build_request(args)
    except OSError as error:
        print(f"send.unreadable_file: {error}", file=sys.stderr)
        return 2
    headers = standard_headers(body, _secret(), content_type=headers["content-type"])
    try:
        response = httpx.post(
            args.ingest.rstrip("/") + path, content=body, headers=headers, timeout=10
        )
    except httpx.HTTPError as error:
        print(f"send.ingest_unreachable: {args.ingest}: {error}", file=sys.stderr)
        return 2
    print(response.text)
    if response.status_code >= 400:
        return 1
    job = response.json().get("job_id")
    if job:
        print(f"follow it: figsync status {job}", file=sys.stderr)
    return 0


def job_status(args: argparse.Namespace) -> int:
    headers = {}
    if token := os.environ.get("FIGSYNC_API_TOKEN"):
        headers["authorization"] = f"Bearer {token}"
    url = f"{args.api.rstrip('/')}/api/teams/{args.team}/jobs/{args.job}"
    try:
        response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError as error:
        print(f"status.api_unreachable: {args.api}: {error}", file=sys.stderr)
        return 2
    if response.status_code in (401, 403):
        print(
            "status.unauthorized: set FIGSYNC_API_TOKEN to a token of the job's team "
            "(`make dev` prints one; `figsync teams token TEAM` makes one)",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 200:
        print(f"status.{response.status_code}: {response.text[:500]}", file=sys.stderr)
        return 1
    print(render_status(response.json()))
    return 0


def render_status(job: dict) -> str:
    """A job and its timeline as a few readable lines."""
    lines = [
        f"job {job.get('job_id') or job.get('id')}  [{job.get('status')}]  step: {job.get('current_step') or '-'}",
    ]
    for key in (
        "file_name",
        "author",
        "mention",
        "notion_url",
        "last_error_code",
        "last_error_message",
    ):
        if job.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {job[key]}")
    for event in job.get("timeline", []):
        when = str(event.get("recorded_at") or event.get("time") or "")[:19].replace("T", " ")
        kind = event.get("type", "")
        detail = event.get("summary") or event.get("detail") or ""
        lines.append(f"  {when}  {kind:<24} {detail}".rstrip())
    return "\n".join(lines)
