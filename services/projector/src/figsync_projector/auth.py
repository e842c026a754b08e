"""Who is asking, and for which teams: API tokens (hashed at rest), dashboard sessions opened
with a token, and optionally an authenticating proxy's user header.

A token is `figsync_<id>_<secret>`; the id is public (shown in the dashboard), the whole token
is stored only as its SHA-256. A principal holds a role per team: `member` reads, `admin` also
changes settings, secrets, tokens and members.
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

from figsync_runtime.teams import check_team_id

Role = Literal["member", "admin"]
ROLES: tuple[Role, ...] = ("member", "admin")
SESSION_COOKIE = "figsync_session"
_TOKEN = re.compile(r"^figsync_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_USER = re.compile(r"^[^\x00-\x1f\x7f]{1,254}$")


class AuthError(Exception):
    """Authentication or authorization refused: an HTTP status, a stable code, what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


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


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise AuthError(422, "auth.bad_role", f"role must be member or admin, not {role!r}")
    return role  # type: ignore[return-value]


async def issue_token(
    pool: asyncpg.Pool, team: str, role: str, *, name: str = "", created_by: str = ""
) -> IssuedToken:
    """Create an API token for a team; the returned token is the only copy in clear."""
    check_team_id(team)
    role = _check_role(role)
    token_id = secrets.token_hex(6)
    token = f"figsync_{token_id}_{secrets.token_urlsafe(32)}"
    await pool.execute(
        """INSERT INTO api_tokens (token_id, team, role, name, token_hash, created_by)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        token_id,
        team,
        role,
        name[:100],
        _hash(token),
        created_by,
    )
    return IssuedToken(token, token_id, team, role)


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
        match = _TOKEN.match(token)
        if not match:
            return None
        row = await self.pool.fetchrow(
            """UPDATE api_tokens SET last_used_at = now()
               WHERE token_id = $1 AND revoked_at IS NULL
               RETURNING team, role, name, token_hash""",
            match.group(1),
        )
        if row is None or not hmac.compare_digest(bytes(row["token_hash"]), _hash(token)):
            return None
        return Principal(
            actor=f"token:{match.group(1)}" + (f" ({row['name']})" if row["name"] else ""),
            roles={row["team"]: row["role"]},
            via="token",
            session_key=match.group(1),
            token_id=match.group(1),
        )

    async def from_session(self, cookie: str) -> Principal | None:
        if not cookie or len(cookie) > 100:
            return None
        row = await self.pool.fetchrow(
            """SELECT t.token_id, t.team, t.role, t.name FROM dashboard_sessions s
               JOIN api_tokens t USING (token_id)
               WHERE s.session_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL""",
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
    rows = await pool.fetch(
        """SELECT token_id, role, name, created_by, created_at, last_used_at FROM api_tokens
           WHERE team = $1 AND revoked_at IS NULL ORDER BY created_at""",
        team,
    )
    return [dict(r) for r in rows]


async def revoke_token(pool: asyncpg.Pool, team: str, token_id: str) -> bool:
    done = await pool.execute(
        """UPDATE api_tokens SET revoked_at = now()
           WHERE team = $1 AND token_id = $2 AND revoked_at IS NULL""",
        team,
        token_id,
    )
    revoked = done.endswith(" 1")
    if revoked:
        await pool.execute("DELETE FROM dashboard_sessions WHERE token_id = $1", token_id)
    return revoked


async def list_members(pool: asyncpg.Pool, team: str) -> list[dict]:
    rows = await pool.fetch(
        """SELECT user_name, role, added_by, added_at FROM team_members WHERE team = $1
           ORDER BY user_name""",
        team,
    )
    return [dict(r) for r in rows]


async def set_member(pool: asyncpg.Pool, team: str, user: str, role: str, added_by: str) -> None:
    user = user.strip()
    if not _USER.match(user):
        raise AuthError(422, "auth.bad_user", "the user name is empty, too long or has controls")
    await pool.execute(
        """INSERT INTO team_members (team, user_name, role, added_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (team, user_name) DO UPDATE SET role = $3, added_by = $4""",
        team,
        user,
        _check_role(role),
        added_by,
    )


async def remove_member(pool: asyncpg.Pool, team: str, user: str) -> None:
    await pool.execute("DELETE FROM team_members WHERE team = $1 AND user_name = $2", team, user)
