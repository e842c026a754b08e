"""Teams: settings as an event-sourced stream (the audit trail), secrets encrypted apart."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from figsync_contracts import TeamSettingsChanged, new_envelope, team_stream_id
from figsync_contracts.events import MAX_TASKS_PER_THREAD
from figsync_eventstore import Appended, PostgresEventStore
from figsync_runtime.edge import check_networks
from figsync_runtime.logs import register_secret
from figsync_runtime.routing import (
    MAX_NOTION_ROUTES,
    MAX_NOTION_TARGETS,
    NotionRoute,
    NotionTarget,
    Routed,
    check_routing,
    route,
    target_named,
)
from figsync_runtime.secrets import Sealed, SecretBox

DEFAULT_TEAM = "default"
TEAM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

SECRET_NAMES = frozenset(
    {
        "figma_token",
        "notion_token",
        "anthropic_api_key",
        "email_webhook_secret",
        "figma_webhook_passcode",
        "slack_webhook_url",
        "mailgun_signing_key",
        "sendgrid_password",
        "postmark_password",
        "notion_webhook_token",
    }
)


MAX_ASSIGNEE_PAIRS = 500
_NOTION_USER_ID = re.compile(r"^[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def handle_key(handle: str) -> str:
    """A Figma handle as figsync compares them: without "@", spaces collapsed, any case."""
    return " ".join(handle.strip().lstrip("@").split()).casefold()


class AssigneePair(BaseModel):
    """One explicit assignee: a Figma handle (as mentioned) → a Notion user id or email."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    figma: str = Field(min_length=1, max_length=100)
    notion: str = Field(min_length=1, max_length=254)

    @field_validator("figma")
    @classmethod
    def _handle(cls, value: str) -> str:
        handle = " ".join(value.strip().lstrip("@").split())
        if not handle or _CONTROL.search(handle):
            raise ValueError(f"{value[:40]!r} is not a Figma handle")
        return "@" + handle

    @field_validator("notion")
    @classmethod
    def _notion_user(cls, value: str) -> str:
        value = value.strip()
        if _NOTION_USER_ID.match(value):
            h = value.replace("-", "").lower()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        if _EMAIL.match(value):
            return value.lower()
        raise ValueError(
            f"{value[:60]!r} is neither a Notion user id (a UUID) nor an email address"
        )

    @property
    def is_email(self) -> bool:
        return "@" in self.notion


def one_pair_per_handle(pairs: list[AssigneePair]) -> list[AssigneePair]:
    """The pairs without repeats; a handle mapped to two different people is refused."""
    seen: dict[str, str] = {}
    for pair in pairs:
        key = handle_key(pair.figma)
        if key in seen and seen[key] != pair.notion:
            raise ValueError(f"{pair.figma} is mapped twice ({seen[key]} and {pair.notion})")
        seen[key] = pair.notion
    return list(dict.fromkeys(pairs))


AI_INSTRUCTIONS_MAX = 2000
AI_SIMPLE_MAX_CHARS_LIMIT = 100_000
MODEL_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_INSTRUCTION_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_instructions(value: str | None) -> str | None:
    """A team's AI instructions as kept: line breaks normalised, trimmed, empty as None;
    control characters other than line breaks and tabs are refused."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if _INSTRUCTION_CONTROL.search(text):
        raise ValueError("the instructions have control characters")
    if len(text) > AI_INSTRUCTIONS_MAX:
        raise ValueError(f"the instructions are longer than {AI_INSTRUCTIONS_MAX} characters")
    return text or None


def check_model_name(value: str | None) -> str | None:
    """A model id as the Anthropic API names them (claude-haiku-4-5, a dated id), or None."""
    if value is None or not value.strip():
        return None
    if not MODEL_NAME.match(value.strip()):
        raise ValueError(f"{value[:40]!r} is not a model name (e.g. claude-haiku-4-5)")
    return value.strip()


class TeamSettings(BaseModel):
    """Everything about a team that is not a secret."""

    model_config = ConfigDict(extra="forbid")

    team: str
    name: str = ""
    tracked_mentions: list[str] = Field(default_factory=list)
    figma_files: list[str] = Field(default_factory=list)
    notion_database_id: str | None = None
    notion_field_mapping: dict[str, str] = Field(default_factory=dict)
    # More places for tasks (docs/architecture.md, "Routing"): named targets, and ordered routes
    # to them; the first route that matches a task wins, the database above takes the rest.
    notion_targets: list[NotionTarget] = Field(default_factory=list, max_length=MAX_NOTION_TARGETS)
    notion_routes: list[NotionRoute] = Field(default_factory=list, max_length=MAX_NOTION_ROUTES)
    ai_enabled: bool = True
    ai_model: str | None = None
    ai_monthly_budget_usd: Decimal | None = None
    # Up to this many task pages from one thread when it asks for separate pieces of work
    # (1: one task per thread, the summary itself).
    max_tasks_per_thread: int = Field(default=1, ge=1, le=MAX_TASKS_PER_THREAD)
    # Free text the team's summaries follow (tone, vocabulary, language, what counts as high
    # priority), put to the model inside the summarizer's fixed frame (docs/architecture.md §5).
    ai_instructions: str | None = None
    # Threads of at most ai_simple_max_chars characters (what the participants wrote) go to
    # ai_simple_model, the rest to ai_model. None: the summarizer's FIGSYNC_AI_SIMPLE_MODEL and
    # FIGSYNC_AI_SIMPLE_MAX_CHARS; a threshold of 0: every thread to ai_model.
    ai_simple_model: str | None = None
    ai_simple_max_chars: int | None = Field(default=None, ge=0, le=AI_SIMPLE_MAX_CHARS_LIMIT)
    confirmations_enabled: bool = True
    confirmation_template: str | None = None
    recipient_addresses: list[str] = Field(default_factory=list)
    # Figma's REST rate limit follows the token owner's plan and seat (Tier 2 per minute:
    # figsync_clients.figma.tier2_per_minute); an explicit figure wins for odd contracts.
    figma_plan: Literal["starter", "professional", "organization", "enterprise"] = "professional"
    figma_seat: Literal["view", "collab", "dev", "full"] = "full"
    figma_requests_per_minute: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # The thread's life after its task exists (docs/architecture.md, "Thread lifecycle").
    reactions_enabled: bool = True
    thread_updates_enabled: bool = True
    done_replies_enabled: bool = True
    done_template: str | None = None
    reopened_template: str | None = None
    figma_resolve_completes_task: bool = True
    # The status that means done; None: the first option of the status property's Complete group.
    notion_done_status: str | None = None
    # Who a task is assigned to (docs/architecture.md, "Assignee"): the people property (None:
    # one named "Assignee", else the database's only people property; "": never assign), the
    # explicit pairs, and the confidence (0-100) an automatic email or name match needs.
    notion_assignee_property: str | None = Field(default=None, max_length=100)
    assignee_map: list[AssigneePair] = Field(default_factory=list, max_length=MAX_ASSIGNEE_PAIRS)
    assignee_match_threshold: int = Field(default=90, ge=0, le=100)
    # Set by the Notion webhook handshake until the dashboard has shown the token once.
    notion_webhook_token_unseen: bool = False
    # CIDR networks the team's ingest endpoints, API and dashboard answer (empty: any that
    # FIGSYNC_ALLOWED_NETWORKS allows).
    allowed_networks: list[str] = Field(default_factory=list, max_length=100)
    # Days a job's personal data is kept after the job ends, then erased (its key shredded;
    # counts and costs stay). None: kept until erased by request; 0: erased as the job ends.
    retention_days: int | None = Field(default=30, ge=0, le=3650)
    secrets_set: list[str] = Field(default_factory=list)
    version: int = 0

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return check_networks(value)

    @field_validator("assignee_map")
    @classmethod
    def _one_pair_per_handle(cls, value: list[AssigneePair]) -> list[AssigneePair]:
        return one_pair_per_handle(value)

    @model_validator(mode="after")
    def _routes_to_targets(self) -> TeamSettings:
        check_routing(self.notion_targets, self.notion_routes)
        return self

    def route(self, *, file_key: str, category: str, priority: str) -> Routed:
        """The Notion target of a task of this file, category and priority."""
        return route(
            self.notion_targets, self.notion_routes, self.notion_database_id,
            self.notion_field_mapping, file_key=file_key, category=category, priority=priority,
        )  # fmt: skip

    def target(self, name: str) -> Routed | None:
        """The target called `name` ("default": notion_database_id and its mapping), or None."""
        return target_named(
            name, self.notion_targets, self.notion_database_id, self.notion_field_mapping
        )

    @field_validator("ai_instructions")
    @classmethod
    def _instructions(cls, value: str | None) -> str | None:
        return clean_instructions(value)

    @field_validator("ai_simple_model")
    @classmethod
    def _simple_model(cls, value: str | None) -> str | None:
        return check_model_name(value)


SETTABLE = frozenset(TeamSettings.model_fields) - {"team", "secrets_set", "version"}


class TeamError(ValueError):
    """A team or setting that cannot be (bad id, unknown setting, unknown secret)."""


class ConcurrentTeamChange(TeamError):
    """Someone else changed the team between our read and our write."""


def check_team_id(team: str) -> str:
    if not TEAM_ID.match(team):
        raise TeamError(
            f"team.bad_id: {team!r} is not a team id (lowercase letters, digits, dashes; ≤ 63)"
        )
    return team


class TeamRepository:
    """Reads and changes teams. Settings changes are TeamSettingsChanged events; secret values
    go only to the encrypted team_secrets table (the event names which secret changed)."""

    def __init__(
        self, store: PostgresEventStore, box: SecretBox, cache_seconds: float = 2.0
    ) -> None:
        self.store = store
        self.pool: asyncpg.Pool = store.pool
        self.box = box
        # Reads are cached briefly (every inbound request and step reads its team); a change
        # made elsewhere is seen within cache_seconds, one made here at once.
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def _cached(self, key: tuple[str, str]) -> tuple[bool, Any]:
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.cache_seconds:
            return True, hit[1]
        return False, None

    def _forget(self, team: str) -> None:
        for key in [k for k in self._cache if k[0] == team]:
            del self._cache[key]

    async def get(self, team: str) -> TeamSettings | None:
        found, value = self._cached((team, ""))
        if found:
            return value
        value = await self._load(team)
        self._cache[(team, "")] = (time.monotonic(), value)
        return value

    async def _load(self, team: str) -> TeamSettings | None:
        history = await self.store.read_stream(team_stream_id(check_team_id(team)))
        if not history:
            return None
        state: dict[str, Any] = {"team": team}
        secrets: set[str] = set()
        for recorded in history:
            change = TeamSettingsChanged.model_validate(recorded.data)
            state.update(change.changes)
            secrets.update(change.secrets_changed)
            secrets.difference_update(change.secrets_cleared)
        state["secrets_set"] = sorted(secrets)
        state["version"] = history[-1].version
        return TeamSettings.model_validate(state)

    async def teams(self) -> list[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT DISTINCT stream_id FROM events WHERE type = $1 ORDER BY stream_id",
                TeamSettingsChanged.type,
            )
        return [r["stream_id"].removeprefix("team:") for r in rows]

    async def change(
        self,
        team: str,
        changes: Mapping[str, Any],
        *,
        secrets: Mapping[str, str] | None = None,
        clear_secrets: Iterable[str] = (),
        changed_by: str = "",
    ) -> TeamSettings:
        """Apply settings changes, secret updates and clearings; only what differs is recorded
        (a cleared secret is named in the event's `secrets_cleared`, like a set one in
        `secrets_changed`; values never are)."""
        check_team_id(team)
        unknown = set(changes) - SETTABLE
        if unknown:
            raise TeamError(f"team.unknown_setting: {', '.join(sorted(unknown))}")
        clear = set(clear_secrets)
        bad_secrets = (set(secrets or {}) | clear) - SECRET_NAMES
        if bad_secrets:
            raise TeamError(f"team.unknown_secret: {', '.join(sorted(bad_secrets))}")
        if clear & set(secrets or {}):
            raise TeamError(
                f"team.secret_set_and_cleared: {', '.join(sorted(clear & set(secrets or {})))}"
                " cannot be set and cleared at once"
            )
        self._forget(team)
        current = await self._load(team) or TeamSettings(team=team)
        candidate = TeamSettings.model_validate({**current.model_dump(), **changes})
        diff = {
            key: getattr(candidate, key)
            for key in changes
            if getattr(candidate, key) != getattr(current, key)
        }
        secrets_changed = [
            name
            for name, value in (secrets or {}).items()
            if await self.get_secret(team, name) != value
        ]
        secrets_cleared = sorted(clear & set(current.secrets_set))
        if not diff and not secrets_changed and not secrets_cleared and current.version:
            return current
        event = TeamSettingsChanged(
            changes=TeamSettings.model_validate({**current.model_dump(), **diff}).model_dump(
                mode="json", include=set(diff)
            ),
            secrets_changed=sorted(secrets_changed),
            secrets_cleared=secrets_cleared,
            changed_by=changed_by,
        )
        stream = team_stream_id(team)
        envelope = new_envelope(event, stream_id=stream, team=team, source="/teams")
        # The secrets and the event that names them commit together: a conflicting append
        # rolls the secrets back, so no secret changes without its event (the audit trail).
        async with self.pool.acquire() as conn, conn.transaction():
            for name in secrets_changed:
                await self._store_secret(conn, team, name, (secrets or {})[name])
            if secrets_cleared:
                await conn.execute(
                    "DELETE FROM team_secrets WHERE team = $1 AND name = ANY($2::text[])",
                    team,
                    secrets_cleared,
                )
            # A store over this connection appends inside its transaction (last, so the
            # append's lock is held only until the commit).
            outcome = await PostgresEventStore(conn).append(  # type: ignore[arg-type]
                stream, [envelope], expected_version=current.version
            )
            if not isinstance(outcome, Appended):
                raise ConcurrentTeamChange(
                    "team.concurrent_change: the team changed meanwhile; try again"
                )
        self._forget(team)
        return await self.get(team)  # type: ignore[return-value]

    async def _store_secret(
        self, conn: asyncpg.Connection, team: str, name: str, value: str
    ) -> None:
        sealed = self.box.seal(team, name, value)
        await conn.execute(
            """INSERT INTO team_secrets (team, name, ciphertext, nonce, key_id)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (team, name) DO UPDATE
               SET ciphertext = $3, nonce = $4, key_id = $5, updated_at = now()""",
            team,
            name,
            sealed.ciphertext,
            sealed.nonce,
            sealed.key_id,
        )

    async def get_secret(self, team: str, name: str) -> str | None:
        """A team's secret in clear (registered for log redaction), or None if not set."""
        found, value = self._cached((team, name))
        if found:
            return value
        value = await self._load_secret(team, name)
        self._cache[(team, name)] = (time.monotonic(), value)
        return value

    async def _load_secret(self, team: str, name: str) -> str | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT ciphertext, nonce, key_id FROM team_secrets WHERE team = $1 AND name = $2",
                team,
                name,
            )
        if row is None:
            return None
        value = self.box.open(team, name, Sealed(row["nonce"], row["ciphertext"], row["key_id"]))
        register_secret(value)
        return value


_ENV_SECRETS = {
    "FIGMA_API_TOKEN": "figma_token",
    "NOTION_API_KEY": "notion_token",
    "ANTHROPIC_API_KEY": "anthropic_api_key",
    "FIGSYNC_EMAIL_WEBHOOK_SECRET": "email_webhook_secret",
    "FIGSYNC_FIGMA_WEBHOOK_PASSCODE": "figma_webhook_passcode",
}


async def ensure_default_team(
    repo: TeamRepository, env: Mapping[str, str] | None = None
) -> TeamSettings:
    """Create or update the zero-configuration team from environment variables."""
    env = os.environ if env is None else env
    changes: dict[str, Any] = {"name": "Default team"}
    if env.get("FIGSYNC_TRACKED_MENTIONS") is not None:
        changes["tracked_mentions"] = [
            m.strip() for m in env["FIGSYNC_TRACKED_MENTIONS"].split(",") if m.strip()
        ]
    if env.get("NOTION_DATABASE_ID"):
        changes["notion_database_id"] = env["NOTION_DATABASE_ID"]
    for setting in ("figma_plan", "figma_seat", "figma_requests_per_minute"):
        if env.get(f"FIGSYNC_{setting.upper()}"):
            changes[setting] = env[f"FIGSYNC_{setting.upper()}"].strip().lower()
    secrets = {name: env[var] for var, name in _ENV_SECRETS.items() if env.get(var)}
    for value in secrets.values():
        register_secret(value)
    for _ in range(10):  # every service does this at start-up; they may race
        try:
            return await repo.change(
                DEFAULT_TEAM, changes, secrets=secrets, changed_by="environment"
            )
        except ConcurrentTeamChange:
            continue
        except ValidationError as error:
            problems = "; ".join(
                f"FIGSYNC_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                for e in error.errors()
            )
            raise TeamError(f"team.bad_setting: {problems}") from None
    raise TeamError("team.concurrent_change: the default team kept changing; try again")
