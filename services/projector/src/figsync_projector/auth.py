"""Who is asking, and for which teams: API tokens (hashed at rest), dashboard sessions opened
with a token, and optionally an authenticating proxy's user header.

A token is `figsync_<id>_<secret>`; the id is public (shown in the dashboard), the whole token
is stored only as its SHA-256. A principal holds a role per team: `member` reads, `admin` also
changes settings, secrets, tokens and members.

Tokens expire (`expires_at`, compared with the database's clock; NULL only when asked for).
Rotating one issues its successor with the same name and role and lets the old one work for a
grace period, so its users switch without downtime. Every token and member change is recorded
as an AuditRecorded event (`audit.py`) in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg
from starlette.requests import Request

from figsync_projector import audit
from figsync_projector.errors import HttpError
from figsync_runtime.teams import check_team_id

Role = Literal["member", "admin"]
ROLES: tuple[Role, ...] = ("member", "admin")
SESSION_COOKIE = "figsync_session"
_TOKEN = re.compile(r"^figsync_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_USER = re.compile(r"^[^\x00-\x1f\x7f]{1,254}$")
DEFAULT_TOKEN_TTL = timedelta(days=90)
DEFAULT_ROTATION_GRACE = timedelta(hours=24)
MAX_TOKEN_TTL = timedelta(days=3660)
MAX_ROTATION_GRACE = timedelta(days=30)


class AuthError(HttpError):
    """Authentication or authorization refused: an HTTP status, a stable code, what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(
            status, code, message, {"WWW-Authenticate": "Bearer"} if status == 401 else None
        )


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its role per team and what it is called in events."""

    actor: str
    roles: dict[str, Role] = field(default_factory=dict)
    via: Literal["token", "session", "proxy"] = "token"
    session_key: str = ""  # what CSRF tokens of this principal are bound to
    token_id: str | None = None

    def role(self, team: str) -> Role | None:
        return self.roles.get(team)

    @property
    def ambient(self) -> bool:
        """True when the browser sends the credential by itself (cookie, proxy): CSRF matters."""
        return self.via != "token"


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    token_id: str
    team: str
    role: Role
    expires_at: datetime | None = None
    # Rotation: the token this one replaces, and until when that one still works.
    replaces: str | None = None
    replaced_until: datetime | None = None


@dataclass(frozen=True)
class TokenPolicy:
    """How long new tokens live (None: never) and how long a rotated token keeps working."""

    ttl: timedelta | None = DEFAULT_TOKEN_TTL
    grace: timedelta = DEFAULT_ROTATION_GRACE


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise AuthError(422, "auth.bad_role", f"role must be member or admin, not {role!r}")
    return role  # type: ignore[return-value]


def check_lifetime(expires_in: timedelta | None) -> timedelta | None:
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_TTL:
        raise AuthError(
            422, "token.bad_expiry",
            f"a token lives more than 0 and at most {MAX_TOKEN_TTL.days} days (or never)",
        )  # fmt: skip
    return expires_in


def check_grace(grace: timedelta) -> timedelta:
    if not timedelta(0) <= grace <= MAX_ROTATION_GRACE:
        raise AuthError(
            422, "token.bad_grace",
            f"the grace period is 0 to {MAX_ROTATION_GRACE.days} days",
        )  # fmt: skip
    return grace


async def _insert_token(
    conn: asyncpg.Connection,
    team: str,
    role: Role,
    name: str,
    created_by: str,
    expires_in: timedelta | None,
) -> IssuedToken:
    token_id = secrets.token_hex(6)
    token = f"figsync_{token_id}_{secrets.token_urlsafe(32)}"
    expires_at = await conn.fetchval(
        """INSERT INTO api_tokens (token_id, team, role, name, token_hash, created_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval) RETURNING expires_at""",
        token_id, team, role, name[:100], _hash(token), created_by, expires_in,
    )  # fmt: skip
    return IssuedToken(token, token_id, team, role, expires_at)


async def issue_token(
    pool: asyncpg.Pool,
    team: str,
    role: str,
    *,
    name: str = "",
    created_by: str = "",
    expires_in: timedelta | None = DEFAULT_TOKEN_TTL,
) -> IssuedToken:
    """Create an API token for a team, expiring after `expires_in` (None: never); the returned
    token is the only copy in clear."""
    check_team_id(team)
    role = _check_role(role)
    check_lifetime(expires_in)
    async with pool.acquire() as conn, conn.transaction():
        issued = await _insert_token(conn, team, role, name, created_by, expires_in)
        await audit.record(
            conn, team, "token.issued", created_by, issued.token_id,
            role=role, name=name[:100], expires_at=issued.expires_at,
        )  # fmt: skip
    return issued


async def rotate_token(
    pool: asyncpg.Pool,
    team: str,
    token_id: str,
    *,
    grace: timedelta = DEFAULT_ROTATION_GRACE,
    expires_in: timedelta | None = DEFAULT_TOKEN_TTL,
    actor: str = "",
) -> IssuedToken:
    """Issue the successor of an active token (same name and role) and let the old one work
    `grace` longer (never longer than it would have), so its users switch without downtime."""
    check_grace(grace)
    check_lifetime(expires_in)
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            """SELECT role, name, rotated_to, expires_at,
                      expires_at IS NOT NULL AND expires_at <= now() AS expired
               FROM api_tokens WHERE team = $1 AND token_id = $2 AND revoked_at IS NULL
               FOR UPDATE""",
            team, token_id,
        )  # fmt: skip
        if old is None or old["expired"]:
            raise AuthError(404, "token.not_found", f"no active token {token_id!r} in {team!r}")
        if old["rotated_to"]:
            raise AuthError(
                409, "token.already_rotated",
                f"token {token_id} was already rotated to {old['rotated_to']}; rotate that one",
            )  # fmt: skip
        new = await _insert_token(conn, team, old["role"], old["name"], actor, expires_in)
        until = await conn.fetchval(
            """UPDATE api_tokens SET rotated_to = $2,
                   expires_at = least(coalesce(expires_at, 'infinity'), now() + $3::interval)
               WHERE token_id = $1 RETURNING expires_at""",
            token_id, new.token_id, grace,
        )  # fmt: skip
        await audit.record(
            conn, team, "token.rotated", actor, token_id,
            new_token_id=new.token_id, role=old["role"], name=old["name"],
            old_expires_at=until, expires_at=new.expires_at,
        )  # fmt: skip
    return IssuedToken(new.token, new.token_id, team, old["role"], new.expires_at,
                       replaces=token_id, replaced_until=until)  # fmt: skip


class Authenticator:
    """Resolves a request to a Principal, from the credentials the settings allow."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        csrf_key: bytes,
        proxy_user_header: str | None = None,
        session_hours: float = 12.0,
    ) -> None:
        self.pool = pool
        self.csrf_key = csrf_key
        self.proxy_user_header = proxy_user_header.lower() if proxy_user_header else None
        self.session_hours = session_hours

    # --- credentials -------------------------------------------------------------------------

    async def from_token(self, token: str) -> Principal | None:
        """The token's principal; None for an unknown or revoked one. An expired token is
        refused with 401 `token.expired` (its holder needs to know it is not a typo)."""
        match = _TOKEN.match(token)
        if not match:
            return None
        row = await self.pool.fetchrow(
            """UPDATE api_tokens SET last_used_at = now()
               WHERE token_id = $1 AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > now())
               RETURNING team, role, name, token_hash""",
            match.group(1),
        )
        if row is None:
            await self._refuse_if_expired(match.group(1), token)
            return None
        if not hmac.compare_digest(bytes(row["token_hash"]), _hash(token)):
            return None
        return Principal(
            actor=f"token:{match.group(1)}" + (f" ({row['name']})" if row["name"] else ""),
            roles={row["team"]: row["role"]},
            via="token",
            session_key=match.group(1),
            token_id=match.group(1),
        )

    async def _refuse_if_expired(self, token_id: str, token: str) -> None:
        row = await self.pool.fetchrow(
            """SELECT token_hash, expires_at, rotated_to FROM api_tokens
               WHERE token_id = $1 AND revoked_at IS NULL AND expires_at <= now()""",
            token_id,
        )
        if row is None or not hmac.compare_digest(bytes(row["token_hash"]), _hash(token)):
            return
        successor = f" (it was rotated to {row['rotated_to']})" if row["rotated_to"] else ""
        raise AuthError(
            401,
            "token.expired",
            f"token {token_id} expired at {row['expires_at']:%Y-%m-%d %H:%M:%S} UTC{successor}; "
            "use its successor, or ask an admin for a new token",
        )

    async def from_session(self, cookie: str) -> Principal | None:
        if not cookie or len(cookie) > 100:
            return None
        row = await self.pool.fetchrow(
            """SELECT t.token_id, t.team, t.role, t.name FROM dashboard_sessions s
               JOIN api_tokens t USING (token_id)
               WHERE s.session_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL
                 AND (t.expires_at IS NULL OR t.expires_at > now())""",
            _hash(cookie),
        )
        if row is None:
            return None
        return Principal(
            actor=f"token:{row['token_id']}" + (f" ({row['name']})" if row["name"] else ""),
            roles={row["team"]: row["role"]},
            via="session",
            session_key=hashlib.sha256(cookie.encode()).hexdigest(),
            token_id=row["token_id"],
        )

    async def from_proxy_user(self, user: str) -> Principal | None:
        user = user.strip()
        if not _USER.match(user):
            return None
        rows = await self.pool.fetch(
            "SELECT team, role FROM team_members WHERE user_name = $1", user
        )
        return Principal(
            actor=f"user:{user}",
            roles={r["team"]: r["role"] for r in rows},
            via="proxy",
            session_key=f"user:{user}",
        )

    async def api_principal(self, request: Request) -> Principal:
        """For /api: `Authorization: Bearer <token>`, or the proxy's user header if trusted."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            principal = await self.from_token(token.strip()) if scheme.lower() == "bearer" else None
            if principal is None:
                raise AuthError(
                    401, "auth.bad_token", "the bearer token is unknown, revoked or malformed"
                )
            return principal
        principal = await self._proxy(request)
        if principal is None:
            raise AuthError(
                401,
                "auth.missing_token",
                "send `Authorization: Bearer <token>` (an admin makes tokens on the Teams "
                "page; `figsync teams create` prints the first one)",
            )
        return principal

    async def page_principal(self, request: Request) -> Principal | None:
        """For pages: the session cookie, or the proxy's user header if trusted."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            principal = await self.from_session(cookie)
            if principal is not None:
                return principal
        return await self._proxy(request)

    async def _proxy(self, request: Request) -> Principal | None:
        if not self.proxy_user_header:
            return None
        user = request.headers.get(self.proxy_user_header)
        return await self.from_proxy_user(user) if user else None

    # --- sessions ----------------------------------------------------------------------------

    async def open_session(self, token: str) -> tuple[str, Principal] | None:
        """Sign in: a new session for a valid token; the cookie value is returned once."""
        principal = await self.from_token(token.strip())
        if principal is None:
            return None
        cookie = secrets.token_urlsafe(32)
        await self.pool.execute(
            """INSERT INTO dashboard_sessions (session_hash, token_id, expires_at)
               VALUES ($1, $2, $3)""",
            _hash(cookie),
            principal.token_id,
            datetime.now(UTC) + timedelta(hours=self.session_hours),
        )
        await self.pool.execute("DELETE FROM dashboard_sessions WHERE expires_at < now()")
        return cookie, principal

    async def close_session(self, cookie: str) -> None:
        await self.pool.execute(
            "DELETE FROM dashboard_sessions WHERE session_hash = $1", _hash(cookie)
        )

    # --- CSRF --------------------------------------------------------------------------------

    def csrf_token(self, principal: Principal) -> str:
        return hmac.new(
            self.csrf_key, f"csrf:{principal.session_key}".encode(), "sha256"
        ).hexdigest()

    def check_csrf(self, principal: Principal, offered: str | None) -> None:
        if not offered or not hmac.compare_digest(offered, self.csrf_token(principal)):
            raise AuthError(
                403, "auth.csrf", "the form is stale or came from another site; reload the page"
            )


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (Sec-Fetch-Site,
    Origin); requests without those headers (non-browser clients) pass."""
    site = request.headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        return origin.split("://", 1)[-1] == host
    return origin != "null"


# --- tokens and members, for the Teams page and the CLI ----------------------------------------


async def list_tokens(pool: asyncpg.Pool, team: str) -> list[dict]:
    """The team's tokens not revoked, expired ones included (flagged)."""
    rows = await pool.fetch(
        """SELECT token_id, role, name, created_by, created_at, last_used_at, expires_at,
                  rotated_to, expires_at IS NOT NULL AND expires_at <= now() AS expired
           FROM api_tokens WHERE team = $1 AND revoked_at IS NULL ORDER BY created_at""",
        team,
    )
    return [dict(r) for r in rows]


async def revoke_token(pool: asyncpg.Pool, team: str, token_id: str, *, actor: str = "") -> bool:
    """Revoke a token at once (a rotated one in its grace period too); its sessions end."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE api_tokens SET revoked_at = now()
               WHERE team = $1 AND token_id = $2 AND revoked_at IS NULL
               RETURNING role, name""",
            team, token_id,
        )  # fmt: skip
        if row is None:
            return False
        await conn.execute("DELETE FROM dashboard_sessions WHERE token_id = $1", token_id)
        await audit.record(conn, team, "token.revoked", actor, token_id,
                           role=row["role"], name=row["name"])  # fmt: skip
    return True


async def list_members(pool: asyncpg.Pool, team: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT user_name, role, added_by, added_at FROM team_members WHERE team = $1
           ORDER BY user_name""",
        team,
    )
    return [dict(r) for r in rows]


async def _lock_members(conn: asyncpg.Connection, team: str) -> None:
    # Two admins removing each other at once must not both see the other one left.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('team-members:' || $1))", team)


async def _refuse_last_admin(conn: asyncpg.Connection, team: str, user: str) -> None:
    others = await conn.fetchval(
        """SELECT count(*) FROM team_members
           WHERE team = $1 AND role = 'admin' AND user_name <> $2""",
        team, user,
    )  # fmt: skip
    if not others:
        raise AuthError(
            409, "member.last_admin",
            f"{user} is the last admin of team {team!r}; make another member admin first",
        )  # fmt: skip


async def set_member(pool: asyncpg.Pool, team: str, user: str, role: str, added_by: str) -> None:
    """Add a member or change their role (the last admin member cannot become a member)."""
    user = user.strip()
    if not _USER.match(user):
        raise AuthError(422, "auth.bad_user", "the user name is empty, too long or has controls")
    role = _check_role(role)
    async with pool.acquire() as conn, conn.transaction():
        await _lock_members(conn, team)
        before = await conn.fetchval(
            "SELECT role FROM team_members WHERE team = $1 AND user_name = $2", team, user
        )
        if before == role:
            return
        if before == "admin":
            await _refuse_last_admin(conn, team, user)
        await conn.execute(
            """INSERT INTO team_members (team, user_name, role, added_by) VALUES ($1, $2, $3, $4)
               ON CONFLICT (team, user_name) DO UPDATE SET role = $3, added_by = $4""",
            team, user, role, added_by,
        )  # fmt: skip
        action = "member.added" if before is None else "member.role_changed"
        await audit.record(conn, team, action, added_by, user, role=role, previous_role=before)


async def remove_member(pool: asyncpg.Pool, team: str, user: str, *, actor: str = "") -> None:
    """Remove a member; an admin too, unless they are the team's last admin member."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_members(conn, team)
        role = await conn.fetchval(
            "SELECT role FROM team_members WHERE team = $1 AND user_name = $2", team, user
        )
        if role is None:
            raise AuthError(404, "member.not_found", f"{user!r} is not a member of {team!r}")
        if role == "admin":
            await _refuse_last_admin(conn, team, user)
        await conn.execute(
            "DELETE FROM team_members WHERE team = $1 AND user_name = $2", team, user
        )
        await audit.record(conn, team, "member.removed", actor, user, role=role)
