"""The Figma REST API (comments, reactions, me), click-tracking redirects and FILE_COMMENT webhooks."""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from figsync_sandbox import control
from figsync_sandbox.background import schedule
from figsync_sandbox.clicks import decode_upn

DEFAULT_FIGMA_TOKEN = "figd_sandbox-figma-token"
DEFAULT_FILE_KEY = "Xk3pQ9dLm2RtV8bNc4HsZa"
DEFAULT_FILE_NAME = "Onboarding Flow"
DEFAULT_ROOT_COMMENT_ID = "1000000001"
DEFAULT_REPLY_COMMENT_ID = "1000000002"
BOT_USER_ID = "1300000000000000001"
MAX_MESSAGE_CHARS = 5000
WEBHOOK_RETRIES = 3
REACTIONS_PAGE_SIZE = 25
# A shortcode from emoji-mart's set, optionally with a skin tone: `:eyes:`, `:+1::skin-tone-2:`.
EMOJI_RE = re.compile(r":[a-z0-9_+-]{1,64}:(?::skin-tone-[2-6]:)?")

STATUS_TEXT = {
    400: "Bad request",
    403: "Invalid token",
    404: "Not found",
    413: "Request too large",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def iso(ts: datetime) -> str:
    """Figma's timestamp format: UTC with milliseconds and a Z."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass
class FigmaUser:
    """A Figma account: `handle` is the display name that mentions use."""

    id: str
    handle: str
    email: str = ""
    img_url: str = ""

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "handle": self.handle, "img_url": self.img_url}


@dataclass
class FigmaReaction:
    """An emoji a user left on a comment."""

    user: FigmaUser
    emoji: str
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {"user": self.user.to_api(), "emoji": self.emoji, "created_at": iso(self.created_at)}


@dataclass
class FigmaComment:
    """A comment or reply; `fragments` are the webhook's text/mention pieces."""

    id: str
    file_key: str
    user: FigmaUser
    fragments: list[dict[str, str]]
    created_at: datetime
    parent_id: str | None = None
    order_id: str | None = None
    client_meta: dict[str, Any] = field(default_factory=lambda: {"x": 120.0, "y": 240.0})
    resolved_at: datetime | None = None
    message_md: str | None = None
    via_api: bool = False
    reactions: list[FigmaReaction] = field(default_factory=list)

    def message(self, users: dict[str, FigmaUser]) -> str:
        """The plain text, mentions written as @handle."""
        parts = []
        for frag in self.fragments:
            if "mention" in frag:
                user = users.get(frag["mention"])
                parts.append("@" + (user.handle if user else frag["mention"]))
            else:
                parts.append(frag.get("text", ""))
        return "".join(parts)

    def mentions(self, users: dict[str, FigmaUser]) -> list[FigmaUser]:
        ids = [f["mention"] for f in self.fragments if "mention" in f]
        return [users[i] for i in dict.fromkeys(ids) if i in users]

    def to_api(self, users: dict[str, FigmaUser], *, as_md: bool = False) -> dict[str, Any]:
        message = self.message(users)
        if as_md and self.message_md is not None:
            message = self.message_md
        data: dict[str, Any] = {
            "id": self.id,
            "file_key": self.file_key,
            "parent_id": self.parent_id or "",
            "user": self.user.to_api(),
            "created_at": iso(self.created_at),
            "resolved_at": iso(self.resolved_at) if self.resolved_at else None,
            "message": message,
            "client_meta": self.client_meta,
            "order_id": self.order_id,
            "reactions": [r.to_api() for r in self.reactions],
        }
        return data


@dataclass
class FigmaFile:
    """A file that holds comment threads."""

    key: str
    name: str
    comments: list[FigmaComment] = field(default_factory=list)

    @property
    def url(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-") or "Untitled"
        return f"https://www.figma.com/design/{self.key}/{slug}"


@dataclass
class WebhookDelivery:
    """One attempt to deliver a FILE_COMMENT webhook."""

    comment_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    payload: dict[str, Any]


class FigmaState(control.ServerState):
    """Figma's data (users, files, comments), tokens, rate limits and webhook settings."""

    name = "figma"

    def __init__(
        self,
        *,
        tokens: dict[str, str] | None = None,
        seed: int = 0,
        tier2_per_minute: int = 25,
        tier3_per_minute: int = 50,
        rate_limit_type: str = "high",
        plan_tier: str = "pro",
        webhook_url: str | None = None,
        webhook_passcode: str = "sandbox-passcode",
        webhook_id: str = "22",
        webhook_retry_delays: tuple[float, ...] = (0.05, 0.1, 0.2),
    ) -> None:
        super().__init__(seed)
        self.default_tokens = dict(tokens or {DEFAULT_FIGMA_TOKEN: BOT_USER_ID})
        self.tokens: dict[str, str] = {}
        self.tier2 = control.RateWindow(tier2_per_minute)
        self.tier3 = control.RateWindow(tier3_per_minute)
        self.rate_limit_type = rate_limit_type
        self.plan_tier = plan_tier
        self.webhook_url = webhook_url
        self.webhook_passcode = webhook_passcode
        self.webhook_id = webhook_id
        self.webhook_retry_delays = webhook_retry_delays
        self.users: dict[str, FigmaUser] = {}
        self.files: dict[str, FigmaFile] = {}
        self.deliveries: list[WebhookDelivery] = []
        self.reaction_calls: list[dict[str, Any]] = []
        self._next_id = 1000000001
        self._clock = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
        self._pending: set[asyncio.Future[Any]] = set()
        self._defaults: dict[str, Any] = {
            "tier2_per_minute": tier2_per_minute,
            "tier3_per_minute": tier3_per_minute,
            "webhook_url": webhook_url or "",
            "webhook_passcode": webhook_passcode,
            "webhook_retry_delays": webhook_retry_delays,
            "rate_limit_type": rate_limit_type,
        }
        self.reset_data()

    # -- configuration ----------------------------------------------------------------
    def configure(
        self,
        *,
        tier2_per_minute: int | None = None,
        tier3_per_minute: int | None = None,
        webhook_url: str | None = None,
        webhook_passcode: str | None = None,
        webhook_retry_delays: tuple[float, ...] | None = None,
        rate_limit_type: str | None = None,
    ) -> None:
        """Change limits or webhook settings at run time (kept until changed again)."""
        with self.lock:
            if tier2_per_minute is not None:
                self.tier2 = control.RateWindow(tier2_per_minute)
            if tier3_per_minute is not None:
                self.tier3 = control.RateWindow(tier3_per_minute)
            if webhook_url is not None:
                self.webhook_url = webhook_url or None
            if webhook_passcode is not None:
                self.webhook_passcode = webhook_passcode
            if webhook_retry_delays is not None:
                self.webhook_retry_delays = tuple(webhook_retry_delays)
            if rate_limit_type is not None:
                self.rate_limit_type = rate_limit_type

    def reset_data(self) -> None:
        with self.lock:
            self.configure(**self._defaults)
            self.tokens = dict(self.default_tokens)
            self.users = {}
            self.files = {}
            self.deliveries = []
            self.reaction_calls = []
            self.tier2.clear()
            self.tier3.clear()
            self._next_id = 1000000001
            self._clock = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
            for user_id in set(self.tokens.values()):
                self.add_user("figsync", user_id=user_id, email="figsync@example.com")
            self.add_user("Maarten", user_id="1300000000000000002", email="maarten@example.com")
            self.add_user("Anna Smith", user_id="1300000000000000003", email="anna@example.com")
            self.add_user("testfigma", user_id="1300000000000000004", email="test@example.com")
            self.add_file(DEFAULT_FILE_KEY, DEFAULT_FILE_NAME)
            self.add_comment(
                DEFAULT_FILE_KEY,
                "@Anna Smith can you review the onboarding copy before Friday?",
                author="Maarten",
                emit=False,
            )
            self.add_comment(
                DEFAULT_FILE_KEY,
                "Sure, I will look at it tomorrow.",
                author="Anna Smith",
                parent_id=DEFAULT_ROOT_COMMENT_ID,
                emit=False,
            )

    # -- seed API ---------------------------------------------------------------------
    def add_token(self, token: str, handle: str = "figsync") -> None:
        """Accept another personal access token, owned by the user `handle`."""
        with self.lock:
            self.tokens[token] = self.user(handle).id

    def add_user(
        self, handle: str, *, user_id: str | None = None, email: str = "", img_url: str = ""
    ) -> FigmaUser:
        """Create (or replace) a user; handles may contain spaces, dots and dashes."""
        with self.lock:
            user_id = user_id or str(1300000000000000000 + len(self.users) + 100)
            img = img_url or f"https://s3-alpha.figma.com/profile/{user_id}"
            user = FigmaUser(id=user_id, handle=handle, email=email, img_url=img)
            self.users[user_id] = user
            return user

    def user(self, handle_or_id: str) -> FigmaUser:
        """Find a user by id or handle; KeyError if unknown."""
        with self.lock:
            if handle_or_id in self.users:
                return self.users[handle_or_id]
            for user in self.users.values():
                if user.handle == handle_or_id:
                    return user
        raise KeyError(f"figma.user_not_found: no sandbox user {handle_or_id!r}")

    def add_file(self, key: str, name: str = "Untitled") -> FigmaFile:
        """Create (or replace) a file with no comments."""
        with self.lock:
            self.files[key] = FigmaFile(key=key, name=name)
            return self.files[key]

    def _fragments(self, text: str, mentions: list[str] | None) -> list[dict[str, str]]:
        if mentions is None:
            candidates = sorted(self.users.values(), key=lambda u: -len(u.handle))
        else:
            candidates = sorted((self.user(m) for m in mentions), key=lambda u: -len(u.handle))
        if not candidates:
            return [{"text": text}]
        pattern = "|".join(re.escape("@" + u.handle) for u in candidates)
        by_handle = {"@" + u.handle: u for u in candidates}
        fragments: list[dict[str, str]] = []
        pos = 0
        for match in re.finditer(pattern, text):
            if match.start() > pos:
                fragments.append({"text": text[pos : match.start()]})
            fragments.append({"mention": by_handle[match.group(0)].id})
            pos = match.end()
        if pos < len(text):
            fragments.append({"text": text[pos:]})
        return fragments

    def add_comment(
        self,
        file_key: str,
        text: str,
        *,
        author: str = "Maarten",
        parent_id: str | None = None,
        mentions: list[str] | None = None,
        message_md: str | None = None,
        client_meta: dict[str, Any] | None = None,
        emit: bool = True,
    ) -> FigmaComment:
        """Add a comment as `author`; "@Handle" of known users (or of `mentions`) become mentions.

        With a webhook URL configured and `emit`, a FILE_COMMENT webhook is sent as Figma does.
        """
        with self.lock:
            file = self.files[file_key]
            comment = self._new_comment(
                file, self.user(author), self._fragments(text, mentions), parent_id, client_meta
            )
            comment.message_md = message_md
        if emit and self.webhook_url:
            self.emit_webhook(file_key, comment.id)
        return comment

    def _new_comment(
        self,
        file: FigmaFile,
        user: FigmaUser,
        fragments: list[dict[str, str]],
        parent_id: str | None,
        client_meta: dict[str, Any] | None,
    ) -> FigmaComment:
        comment_id = str(self._next_id)
        self._next_id += 1
        self._clock += timedelta(minutes=1)
        roots = [c for c in file.comments if c.parent_id is None]
        parent = self.comment(file.key, parent_id) if parent_id else None
        comment = FigmaComment(
            id=comment_id,
            file_key=file.key,
            user=user,
            fragments=fragments,
            created_at=self._clock,
            parent_id=parent_id,
            order_id=None if parent_id else str(len(roots) + 1),
            client_meta=dict(
                client_meta or (parent.client_meta if parent else {"x": 120.0, "y": 240.0})
            ),
        )
        file.comments.append(comment)
        return comment

    def comment(self, file_key: str, comment_id: str | None) -> FigmaComment:
        """Find a comment; KeyError if unknown."""
        with self.lock:
            if file_key not in self.files:
                raise KeyError(f"figma.file_not_found: no sandbox file {file_key!r}")
            for comment in self.files[file_key].comments:
                if comment.id == comment_id:
                    return comment
        raise KeyError(f"figma.comment_not_found: no comment {comment_id!r} in {file_key}")

    def thread(self, file_key: str, comment_id: str) -> list[FigmaComment]:
        """The root comment of `comment_id` followed by its replies, oldest first."""
        with self.lock:
            comment = self.comment(file_key, comment_id)
            root_id = comment.parent_id or comment.id
            return [c for c in self.files[file_key].comments if root_id in (c.id, c.parent_id)]

    def posted_comments(self, file_key: str | None = None) -> list[FigmaComment]:
        """Comments created through POST /v1/files/{key}/comments, oldest first."""
        with self.lock:
            return [
                c
                for f in self.files.values()
                if file_key in (None, f.key)
                for c in f.comments
                if c.via_api
            ]

    def resolve_comment(
        self, file_key: str, comment_id: str, resolved: bool = True
    ) -> FigmaComment:
        """Resolve (or reopen) a thread as a person in Figma would; Figma sends no webhook for it.

        KeyError if the file or comment is unknown, ValueError if it is a reply.
        """
        with self.lock:
            comment = self.comment(file_key, comment_id)
            if comment.parent_id is not None:
                raise ValueError(
                    f"figma.not_a_root_comment: {comment_id} is a reply; resolve its thread's "
                    f"root comment {comment.parent_id}"
                )
            comment.resolved_at = max(datetime.now(UTC), comment.created_at) if resolved else None
            return comment

    def add_reaction(self, file_key: str, comment_id: str, emoji: str, user: str) -> bool:
        """Leave `emoji` on a comment as `user` (handle or id); False if it was already there."""
        with self.lock:
            comment = self.comment(file_key, comment_id)
            reactor = self.user(user)
            if any(r.user.id == reactor.id and r.emoji == emoji for r in comment.reactions):
                return False
            comment.reactions.append(FigmaReaction(reactor, emoji, datetime.now(UTC)))
            return True

    def remove_reaction(self, file_key: str, comment_id: str, emoji: str, user: str) -> bool:
        """Take back `user`'s `emoji` from a comment; False if they had not left it."""
        with self.lock:
            comment = self.comment(file_key, comment_id)
            reactor = self.user(user)
            kept = [
                r for r in comment.reactions if not (r.user.id == reactor.id and r.emoji == emoji)
            ]
            changed = len(kept) != len(comment.reactions)
            comment.reactions = kept
            return changed

    def _log_reaction_call(
        self,
        method: str,
        file_key: str,
        comment_id: str,
        emoji: Any,
        user: FigmaUser,
        status: int,
        *,
        changed: bool,
    ) -> None:
        with self.lock:
            self.reaction_calls.append(
                {
                    "method": method,
                    "file_key": file_key,
                    "comment_id": comment_id,
                    "emoji": emoji,
                    "user": user.handle,
                    "status": status,
                    "changed": changed,
                    "at": iso(datetime.now(UTC)),
                }
            )

    def comment_url(self, file_key: str, comment_id: str) -> str:
        """Where Figma's links to a comment lead: the file, with the comment as fragment."""
        with self.lock:
            return f"{self.files[file_key].url}?node-id=0-1#{comment_id}"

    # -- webhooks ---------------------------------------------------------------------
    def webhook_payload(self, file_key: str, comment_id: str, retries: int = 0) -> dict[str, Any]:
        """The V2 FILE_COMMENT payload Figma sends for a comment (absent fields are "")."""
        with self.lock:
            file = self.files[file_key]
            comment = self.comment(file_key, comment_id)
            return {
                "event_type": "FILE_COMMENT",
                "protocol_version": "2",
                "passcode": self.webhook_passcode,
                "webhook_id": self.webhook_id,
                "timestamp": iso(datetime.now(UTC)),
                "retries": retries,
                "file_key": file.key,
                "file_name": file.name or "",
                "comment_id": comment.id,
                "parent_id": comment.parent_id or "",
                "order_id": comment.order_id or "",
                "created_at": iso(comment.created_at),
                "resolved_at": iso(comment.resolved_at) if comment.resolved_at else "",
                "comment": [dict(f) for f in comment.fragments],
                "mentions": [u.to_api() for u in comment.mentions(self.users)],
                "triggered_by": comment.user.to_api(),
            }

    async def deliver_webhook(
        self, file_key: str, comment_id: str, url: str | None = None
    ) -> list[WebhookDelivery]:
        """POST the FILE_COMMENT payload to `url` (default: the configured one), retrying 3x."""
        target = url or self.webhook_url
        if not target:
            raise ValueError("figma.webhook_not_configured: set webhook_url first")
        attempts: list[WebhookDelivery] = []
        async with httpx.AsyncClient(timeout=5.0) as client:
            for attempt in range(WEBHOOK_RETRIES + 1):
                payload = self.webhook_payload(file_key, comment_id, retries=attempt)
                status: int | None = None
                error: str | None = None
                try:
                    resp = await client.post(target, json=payload)
                    status = resp.status_code
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                record = WebhookDelivery(comment_id, target, attempt, status, error, payload)
                attempts.append(record)
                with self.lock:
                    self.deliveries.append(record)
                if status is not None and 200 <= status < 300:
                    break
                if attempt < WEBHOOK_RETRIES:
                    delays = self.webhook_retry_delays or (0.0,)
                    await asyncio.sleep(delays[min(attempt, len(delays) - 1)])
        return attempts

    def emit_webhook(self, file_key: str, comment_id: str) -> None:
        """Schedule a webhook delivery on the server's event loop (fire and forget)."""
        if self.loop is None or self.loop.is_closed():
            return
        schedule(self.loop, self.deliver_webhook(file_key, comment_id), self._pending)

    # -- answers ----------------------------------------------------------------------
    def error_response(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> Response:
        headers: dict[str, str] = {}
        if status == 429:
            headers = self._rate_limit_headers(retry_after if retry_after is not None else 60)
        elif retry_after is not None:
            headers["Retry-After"] = str(math.ceil(retry_after))
        body = {"status": status, "err": message or STATUS_TEXT.get(status, "Error")}
        return JSONResponse(body, status_code=status, headers=headers)

    def bad_request(self, message: str) -> Response:
        """The 400 of POST comments: Figma's {error: true, status, message} shape."""
        return JSONResponse({"error": True, "status": 400, "message": message}, status_code=400)

    def _rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        return {
            "Retry-After": str(math.ceil(retry_after)),
            "X-Figma-Plan-Tier": self.plan_tier,
            "X-Figma-Rate-Limit-Type": self.rate_limit_type,
            "X-Figma-Upgrade-Link": "https://www.figma.com/pricing",
        }

    def authenticate(self, request: Request) -> FigmaUser | None:
        token = request.headers.get("x-figma-token")
        if token is None:
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else None
        with self.lock:
            user_id = self.tokens.get(token or "")
            return self.users.get(user_id) if user_id else None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "files": [
                    {
                        "key": f.key,
                        "name": f.name,
                        "url": f.url,
                        "comments": [c.to_api(self.users) for c in f.comments],
                    }
                    for f in self.files.values()
                ],
                "users": [dict(u.to_api(), email=u.email) for u in self.users.values()],
                "posted_comments": [c.to_api(self.users) for c in self.posted_comments()],
                "webhook_deliveries": [d.__dict__ for d in self.deliveries],
                "webhook_url": self.webhook_url,
                "reaction_calls": [dict(c) for c in self.reaction_calls],
            }


def create_app(state: FigmaState) -> FastAPI:
    """The Figma sandbox as an ASGI app."""
    app = FastAPI(title="figsync sandbox: Figma", openapi_url=None, docs_url=None)
    control.install(app, state)

    def guard(request: Request, tier: control.RateWindow) -> FigmaUser | Response:
        user = state.authenticate(request)
        if user is None:
            return state.error_response(403, message="Invalid token")
        token = request.headers.get("x-figma-token") or request.headers.get("authorization", "")
        with state.lock:
            wait = tier.hit(token)
        if wait is not None:
            return state.error_response(429, retry_after=wait)
        return user

    @app.get("/v1/me")
    async def get_me(request: Request) -> Response:
        user = guard(request, state.tier3)
        if isinstance(user, Response):
            return user
        return JSONResponse(dict(user.to_api(), email=user.email))

    @app.get("/v1/files/{file_key}/comments")
    async def get_comments(file_key: str, request: Request) -> Response:
        user = guard(request, state.tier2)
        if isinstance(user, Response):
            return user
        as_md = request.query_params.get("as_md", "false").lower() == "true"
        with state.lock:
            file = state.files.get(file_key)
            if file is None:
                return state.error_response(404, message="Not found")
            comments = sorted(file.comments, key=lambda c: int(c.id), reverse=True)
            data = [c.to_api(state.users, as_md=as_md) for c in comments]
        return JSONResponse({"comments": data})

    @app.post("/v1/files/{file_key}/comments")
    async def post_comment(file_key: str, request: Request) -> Response:
        user = guard(request, state.tier2)
        if isinstance(user, Response):
            return user
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return state.bad_request("Invalid JSON in request body")
        if not isinstance(body, dict):
            return state.bad_request("Request body must be a JSON object")
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return state.bad_request("Missing or invalid parameter: message (a non-empty string)")
        if len(message) > MAX_MESSAGE_CHARS:
            return state.bad_request(f"message is longer than {MAX_MESSAGE_CHARS} characters")
        parent_id = body.get("comment_id")
        if parent_id is not None and not isinstance(parent_id, str):
            return state.bad_request("Invalid parameter: comment_id must be a string")
        client_meta = body.get("client_meta")
        if client_meta is not None and not _valid_client_meta(client_meta):
            return state.bad_request("Invalid parameter: client_meta")
        with state.lock:
            file = state.files.get(file_key)
            if file is None:
                return state.error_response(404, message="Not found")
            if parent_id:
                try:
                    parent = state.comment(file_key, parent_id)
                except KeyError:
                    return state.error_response(404, message="Comment not found")
                if parent.parent_id is not None:
                    return state.bad_request(
                        "Cannot reply to a reply: comment_id must be a root comment"
                    )
            comment = state._new_comment(
                file, user, [{"text": message}], parent_id or None, client_meta
            )
            comment.via_api = True
            data = comment.to_api(state.users)
        if state.webhook_url:
            state.emit_webhook(file_key, comment.id)
        return JSONResponse(data)

    _install_reaction_routes(app, state, guard)

    async def click(request: Request) -> Response:
        target = decode_upn(request.query_params.get("upn", ""))
        if target is None:
            return Response("Not found", status_code=404, media_type="text/plain")
        return RedirectResponse(target, status_code=302)

    app.add_api_route("/ls/click", click, methods=["GET"])
    app.add_api_route("/uni/ls/click", click, methods=["GET"])

    @app.get("/wf/open")
    async def open_pixel() -> Response:
        gif = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c")
        gif += bytes.fromhex("00000000010001000002024401003b")
        return Response(gif, media_type="image/gif")

    _install_seed_routes(app, state)
    return app


def _install_reaction_routes(app: FastAPI, state: FigmaState, guard: Any) -> None:
    path = "/v1/files/{file_key}/comments/{comment_id}/reactions"

    def find(file_key: str, comment_id: str) -> FigmaComment | Response:
        with state.lock:
            if file_key not in state.files:
                return state.error_response(404, message="Not found")
            try:
                return state.comment(file_key, comment_id)
            except KeyError:
                return state.error_response(404, message="Comment not found")

    def ok() -> Response:
        return JSONResponse({"status": 200, "error": False})

    @app.get(path)
    async def list_reactions(file_key: str, comment_id: str, request: Request) -> Response:
        user = guard(request, state.tier2)
        if isinstance(user, Response):
            return user
        comment = find(file_key, comment_id)
        if isinstance(comment, Response):
            return comment
        cursor = request.query_params.get("cursor")
        start = 0
        if cursor is not None:
            if not cursor.isdigit():
                return state.bad_request("Invalid parameter: cursor")
            start = int(cursor)
        with state.lock:
            window = comment.reactions[start : start + REACTIONS_PAGE_SIZE]
            data = [r.to_api() for r in window]
            total = len(comment.reactions)
        pagination: dict[str, str] = {}
        if start + REACTIONS_PAGE_SIZE < total:
            next_url = request.url.include_query_params(cursor=str(start + REACTIONS_PAGE_SIZE))
            pagination["next_page"] = str(next_url)
        if start > 0:
            prev = max(0, start - REACTIONS_PAGE_SIZE)
            pagination["prev_page"] = str(request.url.include_query_params(cursor=str(prev)))
        return JSONResponse({"reactions": data, "pagination": pagination})

    @app.post(path)
    async def post_reaction(file_key: str, comment_id: str, request: Request) -> Response:
        user = guard(request, state.tier2)
        if isinstance(user, Response):
            return user
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            body = None
        emoji = body.get("emoji") if isinstance(body, dict) else None
        if not isinstance(emoji, str) or not EMOJI_RE.fullmatch(emoji):
            state._log_reaction_call("POST", file_key, comment_id, emoji, user, 400, changed=False)
            return state.bad_request(
                "Invalid parameter: emoji must be a shortcode such as :eyes: or :+1::skin-tone-2:"
            )
        comment = find(file_key, comment_id)
        if isinstance(comment, Response):
            state._log_reaction_call("POST", file_key, comment_id, emoji, user, 404, changed=False)
            return comment
        changed = state.add_reaction(file_key, comment_id, emoji, user.id)
        state._log_reaction_call("POST", file_key, comment_id, emoji, user, 200, changed=changed)
        return ok()

    @app.delete(path)
    async def delete_reaction(file_key: str, comment_id: str, request: Request) -> Response:
        user = guard(request, state.tier2)
        if isinstance(user, Response):
            return user
        emoji = request.query_params.get("emoji")
        if emoji is None or not EMOJI_RE.fullmatch(emoji):
            state._log_reaction_call(
                "DELETE", file_key, comment_id, emoji, user, 400, changed=False
            )
            return state.bad_request(
                "Invalid parameter: emoji must be a shortcode such as :eyes: or :+1::skin-tone-2:"
            )
        comment = find(file_key, comment_id)
        if isinstance(comment, Response):
            state._log_reaction_call(
                "DELETE", file_key, comment_id, emoji, user, 404, changed=False
            )
            return comment
        changed = state.remove_reaction(file_key, comment_id, emoji, user.id)
        status = 200 if changed else 404
        state._log_reaction_call(
            "DELETE", file_key, comment_id, emoji, user, status, changed=changed
        )
        if not changed:
            return state.error_response(404, message="Reaction not found")
        return ok()


def _valid_client_meta(meta: Any) -> bool:
    if not isinstance(meta, dict):
        return False
    if "node_id" in meta:
        offset = meta.get("node_offset")
        return isinstance(offset, dict) and all(
            isinstance(offset.get(k), int | float) for k in ("x", "y")
        )
    return all(isinstance(meta.get(k), int | float) for k in ("x", "y"))


def _install_seed_routes(app: FastAPI, state: FigmaState) -> None:
    prefix = control.CONTROL_PREFIX

    @app.post(f"{prefix}/users")
    async def seed_user(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        handle = body.get("handle")
        if not isinstance(handle, str) or not handle:
            return control.control_error(400, "figma.bad_user: handle (a string) is required")
        user = state.add_user(
            handle,
            user_id=body.get("id"),
            email=body.get("email", ""),
            img_url=body.get("img_url", ""),
        )
        return JSONResponse(dict(user.to_api(), email=user.email))

    @app.post(f"{prefix}/files")
    async def seed_file(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        key = body.get("key")
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9]{6,64}", key):
            return control.control_error(400, "figma.bad_file: key must be 6-64 letters/digits")
        file = state.add_file(key, str(body.get("name", "Untitled")))
        return JSONResponse({"key": file.key, "name": file.name, "url": file.url})

    @app.post(f"{prefix}/files/{{file_key}}/comments")
    async def seed_comment(file_key: str, request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        text = body.get("message")
        if not isinstance(text, str) or not text:
            return control.control_error(400, "figma.bad_comment: message (a string) is required")
        try:
            comment = state.add_comment(
                file_key,
                text,
                author=str(body.get("author", "Maarten")),
                parent_id=body.get("parent_id"),
                mentions=body.get("mentions"),
                message_md=body.get("message_md"),
                emit=bool(body.get("emit", True)),
            )
        except KeyError as exc:
            return control.control_error(404, str(exc.args[0]))
        return JSONResponse(comment.to_api(state.users))

    @app.post(f"{prefix}/files/{{file_key}}/comments/{{comment_id}}/resolve")
    async def resolve(file_key: str, comment_id: str, request: Request) -> Response:
        body = await control.control_json(request, allow_empty=True)
        if isinstance(body, Response):
            return body
        resolved = body.get("resolved", True)
        if not isinstance(resolved, bool):
            return control.control_error(400, "figma.bad_resolve: resolved must be true or false")
        try:
            comment = state.resolve_comment(file_key, comment_id, resolved)
        except KeyError as exc:
            return control.control_error(404, str(exc.args[0]))
        except ValueError as exc:
            return control.control_error(400, str(exc))
        return JSONResponse(comment.to_api(state.users))

    @app.post(f"{prefix}/files/{{file_key}}/comments/{{comment_id}}/reactions")
    async def seed_reaction(file_key: str, comment_id: str, request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        emoji = body.get("emoji")
        if not isinstance(emoji, str) or not EMOJI_RE.fullmatch(emoji):
            return control.control_error(400, "figma.bad_emoji: emoji must be like :eyes:")
        try:
            changed = state.add_reaction(
                file_key, comment_id, emoji, str(body.get("user", "Maarten"))
            )
            comment = state.comment(file_key, comment_id)
        except KeyError as exc:
            return control.control_error(404, str(exc.args[0]))
        return JSONResponse({"changed": changed, "comment": comment.to_api(state.users)})

    @app.post(f"{prefix}/config")
    async def configure(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        allowed = {
            "tier2_per_minute",
            "tier3_per_minute",
            "webhook_url",
            "webhook_passcode",
            "webhook_retry_delays",
            "rate_limit_type",
        }
        unknown = set(body) - allowed
        if unknown:
            return control.control_error(400, f"figma.bad_config: unknown keys {sorted(unknown)}")
        state.configure(**body)
        return JSONResponse({"ok": True})

    @app.post(f"{prefix}/webhooks/emit")
    async def emit(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        try:
            attempts = await state.deliver_webhook(
                str(body.get("file_key", DEFAULT_FILE_KEY)),
                str(body.get("comment_id", "")),
                url=body.get("url"),
            )
        except (KeyError, ValueError) as exc:
            return control.control_error(400, str(exc.args[0]))
        return JSONResponse({"deliveries": [a.__dict__ for a in attempts]})

    @app.get(f"{prefix}/files/{{file_key}}/comments/{{comment_id}}/email")
    async def email(file_key: str, comment_id: str, request: Request) -> Response:
        from figsync_sandbox.emails import render_comment_email

        params = request.query_params
        try:
            html = render_comment_email(
                state,
                file_key,
                comment_id,
                variant=params.get("variant", "mention"),
                click_base_url=params.get("click_base_url", "https://click.figma.com"),
            )
        except (KeyError, ValueError) as exc:
            return control.control_error(404, str(exc.args[0]))
        return Response(html, media_type="text/html")


__all__ = [
    "DEFAULT_FIGMA_TOKEN",
    "DEFAULT_FILE_KEY",
    "DEFAULT_ROOT_COMMENT_ID",
    "FigmaComment",
    "FigmaFile",
    "FigmaReaction",
    "FigmaState",
    "FigmaUser",
    "create_app",
    "quote",
]
