"""Team administration: validated settings changes, write-only secrets, the live Notion check,
what the Inbound setup page shows, and what a team's Figma token used of its rate budget."""

from __future__ import annotations

import csv
import io
import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

import asyncpg
import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from figsync_runtime.confirmation import MAX_TEMPLATE_CHARS, template_problems
from figsync_runtime.edge import check_networks
from figsync_runtime.internal import HEADER, NOTION_CHECK, internal_token
from figsync_runtime.routing import (
    MAX_NOTION_ROUTES,
    MAX_NOTION_TARGETS,
    NotionRoute,
    NotionTarget,
    field_mapping_of,
    file_key_of,
    notion_id_of,
)
from figsync_runtime.teams import (
    AI_INSTRUCTIONS_MAX,
    AI_SIMPLE_MAX_CHARS_LIMIT,
    DEFAULT_TEAM,
    MAX_ASSIGNEE_PAIRS,
    SECRET_NAMES,
    AssigneePair,
    TeamSettings,
    check_model_name,
    clean_instructions,
    one_pair_per_handle,
)

_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

Text = Annotated[str, Field(max_length=200)]
FigmaPlan = Literal["starter", "professional", "organization", "enterprise"]
FigmaSeat = Literal["view", "collab", "dev", "full"]
FIGMA_PLANS: tuple[str, ...] = get_args(FigmaPlan)
FIGMA_SEATS: tuple[str, ...] = get_args(FigmaSeat)
assert FIGMA_PLANS == get_args(TeamSettings.model_fields["figma_plan"].annotation)
assert FIGMA_SEATS == get_args(TeamSettings.model_fields["figma_seat"].annotation)
# An explicit Figma budget is for contracts the published table does not cover; far above any
# published limit is a typo (and a pace no replica set could keep).
MAX_FIGMA_PER_MINUTE = 10_000


class AiDraft(BaseModel):
    """The AI settings a preview may try before they are saved (SettingsPatch has them too)."""

    model_config = ConfigDict(extra="forbid")

    ai_model: Text | None = None
    ai_instructions: Annotated[str, Field(max_length=2 * AI_INSTRUCTIONS_MAX)] | None = Field(
        default=None,
        description="how the team's tasks should read (tone, vocabulary, language, what counts "
        f"as high priority), at most {AI_INSTRUCTIONS_MAX} characters; they shape the wording, "
        "never the task's fields or allowed values",
    )
    ai_simple_model: Text | None = Field(
        default=None, description="the cheaper model for small threads (null: the server's)"
    )
    ai_simple_max_chars: Annotated[int, Field(ge=0, le=AI_SIMPLE_MAX_CHARS_LIMIT)] | None = Field(
        default=None,
        description="threads of at most this many characters go to ai_simple_model "
        "(0: none; null: the server's FIGSYNC_AI_SIMPLE_MAX_CHARS)",
    )

    @field_validator("ai_model", "ai_simple_model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        return check_model_name(value)

    @field_validator("ai_instructions")
    @classmethod
    def _instructions(cls, value: str | None) -> str | None:
        return clean_instructions(value)

    def changes(self) -> dict[str, Any]:
        """Only the fields that were sent (explicit nulls clear a setting)."""
        return {k: getattr(self, k) for k in self.model_fields_set}


AI_DRAFT_FIELDS = frozenset(AiDraft.model_fields)


class SettingsPatch(AiDraft):
    """The settings an admin may change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=100)] | None = None
    tracked_mentions: Annotated[list[Text], Field(max_length=50)] | None = None
    figma_files: Annotated[list[Text], Field(max_length=200)] | None = None
    notion_database_id: Text | None = None
    notion_field_mapping: Annotated[dict[Text, Text], Field(max_length=50)] | None = None
    # Routing (docs/architecture.md, "Routing"): each list replaces the saved one.
    notion_targets: Annotated[list[NotionTarget], Field(max_length=MAX_NOTION_TARGETS)] | None = (
        Field(default=None, description="named Notion databases with their field mappings")
    )
    notion_routes: Annotated[list[NotionRoute], Field(max_length=MAX_NOTION_ROUTES)] | None = Field(
        default=None, description="ordered rules; the first that matches a task picks its target"
    )
    ai_enabled: bool | None = None
    ai_monthly_budget_usd: Annotated[Decimal, Field(ge=0, le=1_000_000)] | None = None
    max_tasks_per_thread: Annotated[int, Field(ge=1, le=5)] | None = Field(
        default=None,
        description="up to this many task pages from one thread that asks for separate pieces "
        "of work (1: one task per thread)",
    )
    confirmations_enabled: bool | None = None
    confirmation_template: Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS)] | None = None
    recipient_addresses: Annotated[list[Text], Field(max_length=50)] | None = None
    figma_plan: FigmaPlan | None = None
    figma_seat: FigmaSeat | None = None
    figma_requests_per_minute: float | None = Field(
        default=None,
        description="an explicit Figma budget per minute for the team's token; null: the "
        f"plan and seat's (Tier 2), at most {MAX_FIGMA_PER_MINUTE}",
    )
    # The thread's life after its task exists (docs/architecture.md §10).
    reactions_enabled: bool | None = None
    thread_updates_enabled: bool | None = None
    done_replies_enabled: bool | None = None
    done_template: Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS)] | None = None
    reopened_template: Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS)] | None = None
    figma_resolve_completes_task: bool | None = None
    notion_done_status: Annotated[str, Field(max_length=100)] | None = None
    retention_days: Annotated[int, Field(ge=0, le=3650)] | None = Field(
        default=None,
        description="days a job's personal data is kept after it ends, then erased; null: "
        "until erased on request; 0: erased as the job ends",
    )
    allowed_networks: Annotated[list[Text], Field(max_length=100)] | None = Field(
        default=None,
        description="CIDR networks the team's ingest endpoints, API and dashboard answer; "
        "empty: any the server allows",
    )

    # Who a task is assigned to (docs/architecture.md, "Assignee").
    notion_assignee_property: Annotated[str, Field(max_length=100)] | None = None
    assignee_map: Annotated[list[AssigneePair], Field(max_length=MAX_ASSIGNEE_PAIRS)] | None = None
    assignee_match_threshold: Annotated[int, Field(ge=0, le=100)] | None = None

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return check_networks(value or [])  # an explicit null: no list of its own

    @field_validator("assignee_map")
    @classmethod
    def _assignees(cls, value: list[AssigneePair] | None) -> list[AssigneePair]:
        return one_pair_per_handle(value or [])  # an explicit null: no pairs

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("the name has control characters")
        return value.strip() if value is not None else None

    @field_validator("tracked_mentions")
    @classmethod
    def _mentions(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out: list[str] = []
        for mention in (m.strip() for m in value):
            if not mention:
                continue
            if _CONTROL.search(mention) or len(mention) > 100:
                raise ValueError(f"{mention[:40]!r} is not a mention (at most 100 characters)")
            if mention not in out:
                out.append(mention)
        return out

    @field_validator("figma_files")
    @classmethod
    def _files(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        keys = [file_key_of(v) for v in value if v.strip()]
        return list(dict.fromkeys(keys))

    @field_validator("notion_database_id")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        return notion_id_of(value) if value and value.strip() else None

    @field_validator("notion_field_mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else field_mapping_of(value)

    @field_validator("confirmation_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        problems = template_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("recipient_addresses")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = [a.strip().lower() for a in value if a.strip()]
        for address in out:
            if not _EMAIL.match(address):
                raise ValueError(f"{address[:80]!r} is not an email address")
        return list(dict.fromkeys(out))

    @field_validator("figma_plan", "figma_seat")
    @classmethod
    def _figma_choice(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:  # only an explicit null gets here: the plan and seat always have one
            choices = FIGMA_PLANS if info.field_name == "figma_plan" else FIGMA_SEATS
            raise ValueError(f"choose one of {', '.join(choices)} (it cannot be left empty)")
        return value

    @field_validator("figma_requests_per_minute")
    @classmethod
    def _figma_rate(cls, value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value) or not 0 < value <= MAX_FIGMA_PER_MINUTE:
            raise ValueError(
                f"{value:g} is not a budget: requests per minute above 0 and at most "
                f"{MAX_FIGMA_PER_MINUTE} (leave it empty to follow the plan and seat)"
            )
        return value


class SettingsInvalid(Exception):
    def __init__(self, problems: str) -> None:
        super().__init__(problems)
        self.problems = problems


MAX_ASSIGNEE_CSV_BYTES = 32 * 1024
_CSV_HEADER = {"figma", "figma handle", "handle", "figma user"}


def assignee_csv(text: str) -> list[dict[str, str]]:
    """The assignee pairs of a CSV (`Figma handle,Notion user id or email` per line, an
    optional header), or SettingsInvalid naming each bad line."""
    size = len(text.encode())
    if size > MAX_ASSIGNEE_CSV_BYTES:
        raise SettingsInvalid(
            f"assignee_map: the CSV has {size} bytes, at most {MAX_ASSIGNEE_CSV_BYTES} are taken"
        )
    pairs: list[dict[str, str]] = []
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text.replace("\x00", "\ufffd")))
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells) or (reader.line_num == 1 and cells[0].lower() in _CSV_HEADER):
                continue
            where = f"line {reader.line_num}"
            if len(cells) != 2:
                problems.append(f"{where}: {len(cells)} columns, expected 2 (Figma handle, "
                                "Notion user id or email)")  # fmt: skip
                continue
            try:
                pair = AssigneePair(figma=cells[0], notion=cells[1])
            except ValidationError as error:
                problems.append(
                    f"{where}: {error.errors()[0]['msg'].removeprefix('Value error, ')}"
                )
                continue
            pairs.append(pair.model_dump())
    except csv.Error as error:
        problems.append(f"line {reader.line_num}: {error}")
    if len(pairs) > MAX_ASSIGNEE_PAIRS:
        problems.append(f"{len(pairs)} pairs, at most {MAX_ASSIGNEE_PAIRS}")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise SettingsInvalid("assignee_map: " + "; ".join(problems[:10]) + more)
    return pairs


def targets_from_text(text: str) -> list[dict[str, Any]]:
    """The settings form's targets, one per line: `Name | database id or link | Property = task
    field, …` (the mapping optional), or SettingsInvalid naming each bad line."""
    targets: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("|")]
        if len(cells) not in (2, 3):
            problems.append(f"line {number}: `Name | database id or link | Property = field, …`")
            continue
        mapping: dict[str, str] = {}
        for entry in (e for e in (cells[2] if len(cells) == 3 else "").split(",") if e.strip()):
            prop, sep, task_field = entry.rpartition("=")
            if not sep:
                problems.append(f"line {number}: {entry.strip()[:60]!r} is not `Property = field`")
            mapping[prop.strip()] = task_field.strip()
        targets.append({"name": cells[0], "database_id": cells[1], "field_mapping": mapping})
    if problems:
        raise SettingsInvalid("notion_targets: " + "; ".join(problems[:10]))
    return targets


_ROUTE_KEYS = {"files": "file_keys", "file": "file_keys", "categories": "categories",
               "category": "categories", "priorities": "priorities", "priority": "priorities"}  # fmt: skip


def routes_from_text(text: str) -> list[dict[str, Any]]:
    """The settings form's routes, in order, one per line: `Target | files: KEY … | categories:
    design … | priorities: high …` (the conditions given), or SettingsInvalid naming each bad
    line."""
    routes: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        target, *conditions = (c.strip() for c in line.split("|"))
        rule: dict[str, Any] = {"target": target}
        for condition in conditions:
            key, sep, values = condition.partition(":")
            if not sep or key.strip().lower() not in _ROUTE_KEYS:
                problems.append(f"line {number}: {condition[:60]!r} is not `files: …`, "
                                "`categories: …` or `priorities: …`")  # fmt: skip
                continue
            rule[_ROUTE_KEYS[key.strip().lower()]] = values.replace(",", " ").split()
        routes.append(rule)
    if problems:
        raise SettingsInvalid("notion_routes: " + "; ".join(problems[:10]))
    return routes


def parse_patch(data: Any) -> SettingsPatch:
    try:
        return SettingsPatch.model_validate(data)
    except ValidationError as error:
        raise SettingsInvalid(problems_of(error)) from error


def parse_draft(data: Any) -> AiDraft:
    try:
        return AiDraft.model_validate(data)
    except ValidationError as error:
        raise SettingsInvalid(problems_of(error)) from error


def problems_of(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg'].removeprefix('Value error, ')}"
        for e in error.errors()
    )


def check_secrets(data: Any) -> dict[str, str]:
    """Secret updates: known names, non-empty values without control characters."""
    if not isinstance(data, dict) or not data:
        raise SettingsInvalid("body: an object of secret name → value")
    problems = []
    for name, value in data.items():
        if name not in SECRET_NAMES:
            problems.append(f"{name}: unknown secret (one of {', '.join(sorted(SECRET_NAMES))})")
        elif not isinstance(value, str) or not value.strip() or len(value) > 4096:
            problems.append(f"{name}: a non-empty string of at most 4096 characters")
        elif _CONTROL.search(value):
            problems.append(f"{name}: has control characters")
        elif name == "slack_webhook_url" and not value.startswith("https://"):
            problems.append(f"{name}: an https:// URL (Slack's incoming webhook URL)")
    if problems:
        raise SettingsInvalid("; ".join(problems))
    return {name: value.strip() for name, value in data.items()}


# --- the Notion check, run by the notion service ------------------------------------------------


class NotionCheck:
    """Calls the notion service's read-only check of a team's database and field mapping."""

    def __init__(
        self,
        url: str | None,
        secret_key: str,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self.token = internal_token(secret_key, NOTION_CHECK)
        self.timeout = timeout
        self.transport = transport

    async def run(
        self,
        team: str,
        database_id: str | None,
        field_mapping: dict[str, str] | None,
        targets: list[NotionTarget] | None = None,
    ) -> dict[str, Any]:
        """The check of the team's database and every target (the proposed ones, or the saved)."""
        if not self.url:
            return _unavailable("set FIGSYNC_NOTION_CHECK_URL to the notion service's address")
        body: dict[str, Any] = {"team": team, "database_id": database_id,
                                "field_mapping": field_mapping}  # fmt: skip
        if targets is not None:
            body["targets"] = [t.model_dump() for t in targets]
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(
                    f"{self.url}/internal/notion/check",
                    json=body,
                    headers={HEADER: self.token},
                )
        except httpx.HTTPError as error:
            return _unavailable(f"the notion service did not answer ({type(error).__name__})")
        if response.status_code != 200:
            return _unavailable(f"the notion service answered {response.status_code}")
        try:
            found = response.json()
        except ValueError:
            return _unavailable("the notion service answered something else than JSON")
        return {
            "ok": bool(found.get("ok")),
            "errors": int(found.get("errors", 0)),
            "lines": [str(line) for line in found.get("lines", [])][:100],
        }


def _unavailable(why: str) -> dict[str, Any]:
    return {"ok": False, "errors": 1, "lines": [f"  error  notion.check_unavailable: {why}"]}


# --- a token's Figma budget ----------------------------------------------------------------------


# --- Inbound setup -------------------------------------------------------------------------------

PROVIDERS = [
    ("email", "/email", "Standard Webhooks-signed JSON (email_webhook_secret)"),
    ("email_mime", "/email/mime", "a raw RFC 822 message, signed (email_webhook_secret)"),
    ("mailgun", "/mailgun", 'a Mailgun route: forward("…") (mailgun_signing_key)'),
    ("sendgrid", "/sendgrid", "SendGrid Inbound Parse, Basic auth (sendgrid_password)"),
    ("postmark", "/postmark", "Postmark inbound webhook, Basic auth (postmark_password)"),
    ("figma", "/figma", "Figma webhooks V2, FILE_COMMENT (figma_webhook_passcode)"),
    ("notion", "/notion", "Notion webhooks: task status changes (its verification token)"),
]


def inbound_urls(public_ingest_url: str, team: str) -> list[dict[str, str]]:
    base = public_ingest_url.rstrip("/")
    prefix = "/v1/inbound" if team == DEFAULT_TEAM else f"/v1/teams/{team}/inbound"
    return [
        {"provider": name, "url": f"{base}{prefix}{path}", "what": what}
        for name, path, what in PROVIDERS
    ]


async def latest_verification(pool: asyncpg.Pool, team: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        """SELECT provider, code, requested_by, confirmation_url, received_at
           FROM forwarding_verifications WHERE team = $1 ORDER BY received_at DESC LIMIT 1""",
        team,
    )
    return dict(row) if row else None
