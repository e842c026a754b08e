"""The Notion API (Notion-Version 2025-09-03): databases, data sources, pages, users (me and
the paged list), webhooks."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from figsync_sandbox import control
from figsync_sandbox import notion_schema as ns
from figsync_sandbox.notion_schema import NotionValidationError
from figsync_sandbox.notion_webhooks import NotionWebhooks, encode, sign

NOTION_VERSION = "2025-09-03"
DEFAULT_NOTION_TOKEN = "ntn_sandbox_notion_token"
BOT_ID = "7775f3a3-893f-43fa-b625-460c61094c78"
WORKSPACE_ID = "231674b6-2cc1-46bc-b742-c5c9fe4b9c73"
ROOT_PAGE_ID = "393abc1e-edcd-80f3-813b-e205934558c6"
TASKS_DATABASE_ID = "e234cdc8-4ad2-4371-a97e-999a238bf8f5"
TASKS_DATA_SOURCE_ID = "b71e1213-3d03-46cb-b9c2-db9856a9f42d"
PRIVATE_DATABASE_ID = "0f1e2d3c-4b5a-4697-8877-665544332211"
# A second shared database, with a schema of its own, for teams that route tasks to several.
BUGS_DATABASE_ID = "5b0a7c1e-2d3f-4a6b-8c9d-0e1f2a3b4c5d"
BUGS_DATA_SOURCE_ID = "9e8d7c6b-5a49-4382-9170-a1b2c3d4e5f6"
INTEGRATION_NAME = "figsync"
INTEGRATION_ID = "1c4d872b-594c-8187-9bd4-0037d1cbbc2e"
PERSON_USER_ID = "c2a4f1e0-5b3d-4e8f-9a7c-1d2e3f405162"
PERSON_NAME, PERSON_EMAIL = "Nora Notion", "nora@example.com"
TIMESTAMPS = ("created_time", "last_edited_time")
DATE_CONDITIONS = ("equals", "before", "after", "on_or_before", "on_or_after")
RELATIVE_CONDITIONS = {"past_week": 7, "past_month": 30, "past_year": 365}
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")

TASKS_PROPERTIES: dict[str, dict[str, Any]] = {
    "Title": {"title": {}},
    "Summary": {"rich_text": {}},
    "Figma File": {"url": {}},
    "Figma Thread": {"url": {}},
    "Priority": {"select": {"options": [{"name": n} for n in ("low", "medium", "high")]}},
    "Category": {
        "select": {"options": [{"name": n} for n in ("design", "development", "review", "other")]}
    },
    "Action Items": {"rich_text": {}},
    "Status": {
        "status": {"options": [{"name": n} for n in ("Not started", "In progress", "Done")]}
    },
    "Created From": {"rich_text": {}},
    "Mentioned User": {"rich_text": {}},
}

BUGS_PROPERTIES: dict[str, dict[str, Any]] = {
    "Name": {"title": {}},
    "Description": {"rich_text": {}},
    "Severity": {"select": {"options": [{"name": n} for n in ("low", "medium", "high")]}},
    "Figma Thread": {"url": {}},
    "State": {"status": {"options": [{"name": n} for n in ("Not started", "Fixing", "Fixed")]}},
}

ERROR_CODES = {
    400: ("validation_error", "Invalid request."),
    401: ("unauthorized", "API token is invalid."),
    403: ("restricted_resource", "Insufficient permissions for this endpoint."),
    404: ("object_not_found", "Could not find the requested object."),
    409: ("conflict_error", "Conflict occurred while saving. Please try again."),
    413: ("validation_error", "Request body too large."),
    429: ("rate_limited", "You have been rate limited. Please try again in a few minutes."),
    500: ("internal_server_error", "Unexpected error occurred."),
    502: ("internal_server_error", "Unexpected error occurred."),
    503: ("service_unavailable", "Notion is unavailable. Try again later."),
    504: ("gateway_timeout", "Notion timed out while processing this request."),
    529: ("service_overload", "Notion is overloaded. Please try again later."),
}


def now_minute() -> str:
    """Pages carry minute-precision times, as in the recorded answers."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")


def now_precise() -> str:
    """Databases carry millisecond times with an explicit offset, as in the recorded answers."""
    ts = datetime.now(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+00:00"


def minute(ts: datetime) -> str:
    """A page timestamp as Notion shows it: rounded down to the minute."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")


def title_rt(text: str) -> list[dict[str, Any]]:
    return ns.rich_text([{"text": {"content": text}}], "title")


class NotionError(Exception):
    """An error answer in Notion's shape."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


@dataclass
class DataSource:
    """A data source: the property schema that pages of a database follow."""

    id: str
    database_id: str
    name: str
    properties: dict[str, dict[str, Any]]
    created_time: str = field(default_factory=now_minute)
    in_trash: bool = False


@dataclass
class Database:
    """A database (container of data sources); `shared` False hides it from the integration."""

    id: str
    title: str
    data_source_ids: list[str]
    shared: bool = True
    created_time: str = field(default_factory=now_precise)
    in_trash: bool = False


@dataclass
class Page:
    """A page: its parent, property values (answer shape) and child blocks."""

    id: str
    parent: dict[str, Any]
    properties: dict[str, dict[str, Any]]
    children: list[dict[str, Any]]
    created_time: str = field(default_factory=now_minute)
    last_edited_time: str = field(default_factory=now_minute)
    in_trash: bool = False
    icon: Any = None
    cover: Any = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    edited_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_edited_by: dict[str, Any] = field(default_factory=lambda: {"object": "user", "id": BOT_ID})

    def timestamp(self, kind: str) -> datetime:
        """The precise created_time or last_edited_time, which filters and sorts compare."""
        return self.created_at if kind == "created_time" else self.edited_at

    @property
    def parent_ref(self) -> dict[str, str]:
        """The parent as webhook events name it (a database, with its data source)."""
        if "data_source_id" in self.parent:
            return {
                "id": self.parent["database_id"],
                "type": "database",
                "data_source_id": self.parent["data_source_id"],
            }
        return {"id": self.parent["page_id"], "type": "page"}

    @property
    def title(self) -> str:
        for value in self.properties.values():
            if value["type"] == "title":
                return ns.text_of(value["title"])
        return ""

    def plain(self) -> dict[str, Any]:
        """Property values flattened to plain Python values (text, option names, urls, user ids)."""
        out: dict[str, Any] = {}
        for name, value in self.properties.items():
            kind = value["type"]
            raw = value[kind]
            if kind in ("title", "rich_text"):
                out[name] = ns.text_of(raw)
            elif kind in ("select", "status"):
                out[name] = raw["name"] if raw else None
            elif kind == "multi_select":
                out[name] = [o["name"] for o in raw]
            elif kind == "people":
                out[name] = [u["id"] for u in raw]
            else:
                out[name] = raw
        return out


class NotionState(control.ServerState):
    """Notion's data, the accepted tokens, the rate limit and select-option behaviour."""

    name = "notion"
    max_body_bytes = 500_000

    def __init__(
        self,
        *,
        tokens: list[str] | None = None,
        seed: int = 0,
        rate_per_second: float = 3.0,
        burst: int = 10,
        create_select_options: bool = True,
        integration_name: str = INTEGRATION_NAME,
    ) -> None:
        super().__init__(seed)
        self.default_tokens = list(tokens or [DEFAULT_NOTION_TOKEN])
        self.tokens: set[str] = set()
        self.rate_per_second = rate_per_second
        self.limiter = control.TokenBucket(rate_per_second, burst)
        self.create_select_options = create_select_options
        self.integration_name = integration_name
        self.databases: dict[str, Database] = {}
        self.data_sources: dict[str, DataSource] = {}
        self.pages: dict[str, Page] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self._last_tick = datetime.now(UTC)
        self.webhooks = NotionWebhooks(
            workspace_id=WORKSPACE_ID,
            integration_id=INTEGRATION_ID,
            seed=lambda: self.faults.seed,
            loop=lambda: self.loop,
        )
        self._defaults: dict[str, Any] = {
            "rate_per_second": rate_per_second,
            "burst": burst,
            "create_select_options": create_select_options,
        }
        self.reset_data()

    def configure(
        self,
        *,
        rate_per_second: float | None = None,
        burst: int | None = None,
        create_select_options: bool | None = None,
    ) -> None:
        """Change the rate limit or select-option behaviour at run time."""
        with self.lock:
            if rate_per_second is not None or burst is not None:
                self.limiter = control.TokenBucket(
                    rate_per_second if rate_per_second is not None else self.limiter.rate,
                    burst if burst is not None else self.limiter.burst,
                )
            if create_select_options is not None:
                self.create_select_options = create_select_options

    def reset_data(self) -> None:
        with self.lock:
            self.configure(**self._defaults)
            self.tokens = set(self.default_tokens)
            self.databases, self.data_sources, self.pages = {}, {}, {}
            self.users = {}
            self.add_user(PERSON_NAME, PERSON_EMAIL, user_id=PERSON_USER_ID)
            self.limiter.clear()
            self._counter = 0
            self.webhooks.reset()
            self.add_database(
                "Tasks",
                TASKS_PROPERTIES,
                database_id=TASKS_DATABASE_ID,
                data_source_id=TASKS_DATA_SOURCE_ID,
            )
            self.add_database(
                "Bugs",
                BUGS_PROPERTIES,
                database_id=BUGS_DATABASE_ID,
                data_source_id=BUGS_DATA_SOURCE_ID,
            )
            self.add_database(
                "Private Roadmap",
                {"Name": {"title": {}}},
                shared=False,
                database_id=PRIVATE_DATABASE_ID,
            )

    def new_id(self, kind: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self.faults.seed}/{kind}/{self._counter}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def error_response(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> Response:
        default_code, default_message = ERROR_CODES.get(status, ("internal_server_error", "Error."))
        extra = dict(extra or {})
        if retry_after is None:
            retry_after = extra.pop("retry_after", None)
        extra.pop("retry_after", None)
        body = {
            "object": "error",
            "status": status,
            "code": code or default_code,
            "message": message or default_message,
            **extra,
            "request_id": str(uuid.uuid4()),
        }
        headers = {}
        if retry_after is None and status == 429:
            retry_after = 1
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return JSONResponse(body, status_code=status, headers=headers)

    def unknown_route(self, status: int) -> Response:
        return self.error_response(400, "invalid_request_url", "Invalid request URL.")

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "databases": [
                    dict(self.database_json(d), shared=d.shared) for d in self.databases.values()
                ],
                "data_sources": [self.data_source_json(d) for d in self.data_sources.values()],
                "pages": [dict(self.page_json(p), plain=p.plain()) for p in self.pages.values()],
                **self.webhooks.snapshot(),
            }

    # -- seed API ---------------------------------------------------------------------
    def add_token(self, token: str) -> None:
        """Accept another integration token."""
        with self.lock:
            self.tokens.add(token)

    def add_user(self, name: str, email: str = "", *, user_id: str | None = None) -> str:
        """Add (or replace) a person in the workspace; its id."""
        with self.lock:
            uid = ns.normalize_id(user_id) if user_id else self.new_id("user")
            if uid is None:
                raise NotionValidationError(f"{user_id!r} is not a user id (a UUID)")
            person = {"email": email} if email else {}
            self.users[uid] = {"object": "user", "id": uid, "name": name, "avatar_url": None,
                               "type": "person", "person": person}  # fmt: skip
            return uid

    def users_page(self, query: Any) -> dict[str, Any]:
        """GET /v1/users: people and the integration's bot, `page_size` (≤ 100) at a time."""
        everyone = [*self.users.values(), {**self.users_me_json(), "bot": {}}]
        size_raw = query.get("page_size", "100")
        if not size_raw.isdigit() or not 1 <= int(size_raw) <= 100:
            raise NotionValidationError(
                "body failed validation: body.page_size should be a number between 1 and 100, "
                f"instead was `{size_raw}`."
            )
        start = 0
        if (cursor := query.get("start_cursor")) is not None:
            ids = [u["id"] for u in everyone]
            if cursor not in ids:
                raise NotionValidationError(
                    f"body failed validation: body.start_cursor should be a valid cursor, "
                    f"instead was `{cursor}`."
                )
            start = ids.index(cursor)
        chunk = everyone[start : start + int(size_raw)]
        rest = everyone[start + int(size_raw) :]
        return {"object": "list", "results": chunk, "next_cursor": rest[0]["id"] if rest else None,
                "has_more": bool(rest), "type": "user", "user": {}}  # fmt: skip

    def add_database(
        self,
        title: str,
        properties: dict[str, dict[str, Any]],
        *,
        shared: bool = True,
        database_id: str | None = None,
        data_source_id: str | None = None,
    ) -> Database:
        """Create a database with one data source whose schema is `properties` (API style)."""
        with self.lock:
            db_id = database_id or self.new_id("database")
            ds_id = data_source_id or self.new_id("data_source")
            schema = {}
            for i, (name, config) in enumerate(properties.items()):
                kind = config.get("type") or next(iter(config))
                pid = "title" if kind == "title" else self._property_id(name, i)
                schema[name] = ns.schema_property(name, pid, config, f"properties.{name}")
            db = Database(id=db_id, title=title, data_source_ids=[ds_id], shared=shared)
            self.databases[db_id] = db
            self.data_sources[ds_id] = DataSource(ds_id, db_id, title, schema)
            return db

    @staticmethod
    def _property_id(name: str, i: int) -> str:
        raw = hashlib.sha1(f"{name}/{i}".encode()).hexdigest()[:4]
        return "%3A" + raw if i % 2 else raw

    def share(self, database_id: str, shared: bool = True) -> None:
        """Share (or unshare) a database with the integration."""
        with self.lock:
            self.databases[database_id].shared = shared

    def created_pages(self, data_source_id: str | None = None) -> list[Page]:
        """Pages created since the last reset (including trashed ones), oldest first."""
        with self.lock:
            return [
                p
                for p in self.pages.values()
                if data_source_id is None or p.parent.get("data_source_id") == data_source_id
            ]

    # -- lookups (raise NotionError) --------------------------------------------------
    def _not_found(self, kind: str, raw_id: str) -> NotionError:
        return NotionError(
            404,
            "object_not_found",
            f"Could not find {kind} with ID: {raw_id}. Make sure the relevant pages and databases "
            f'are shared with your integration "{self.integration_name}".',
            {"additional_data": {"integration_id": BOT_ID}},
        )

    def _id(self, raw: str, kind: str) -> str:
        norm = ns.normalize_id(raw)
        if norm is None:
            raise NotionError(
                400,
                "validation_error",
                f"path failed validation: path.{kind}_id should be a valid uuid, "
                f"instead was `{json.dumps(raw)}`.",
            )
        return norm

    def database(self, raw_id: str) -> Database:
        db = self.databases.get(self._id(raw_id, "database"))
        if db is None or not db.shared:
            raise self._not_found("database", raw_id)
        return db

    def data_source(self, raw_id: str) -> DataSource:
        ds = self.data_sources.get(self._id(raw_id, "data_source"))
        if ds is None or not self.databases[ds.database_id].shared:
            raise self._not_found("data source", raw_id)
        return ds

    def page(self, raw_id: str) -> Page:
        page = self.pages.get(self._id(raw_id, "page"))
        if page is None:
            raise self._not_found("page", raw_id)
        return page

    # -- shapes -----------------------------------------------------------------------
    def bot_ref(self) -> dict[str, Any]:
        return {"object": "user", "id": BOT_ID}

    def database_json(self, db: Database) -> dict[str, Any]:
        return {
            "object": "database",
            "id": db.id,
            "title": title_rt(db.title),
            "description": [],
            "parent": {"type": "page_id", "page_id": ROOT_PAGE_ID},
            "is_inline": False,
            "in_trash": db.in_trash,
            "is_locked": False,
            "created_time": db.created_time,
            "last_edited_time": db.created_time,
            "data_sources": [
                {"id": i, "name": self.data_sources[i].name} for i in db.data_source_ids
            ],
            "icon": None,
            "cover": None,
            "url": f"https://app.notion.com/p/{db.id.replace('-', '')}",
            "public_url": None,
            "archived": db.in_trash,
        }

    def data_source_json(self, ds: DataSource) -> dict[str, Any]:
        return {
            "object": "data_source",
            "id": ds.id,
            "cover": None,
            "icon": None,
            "created_time": ds.created_time,
            "created_by": self.bot_ref(),
            "last_edited_by": self.bot_ref(),
            "last_edited_time": ds.created_time,
            "title": title_rt(ds.name),
            "description": [],
            "is_inline": False,
            "properties": copy.deepcopy(ds.properties),
            "parent": {"type": "database_id", "database_id": ds.database_id},
            "database_parent": {"type": "page_id", "page_id": ROOT_PAGE_ID},
            "url": f"https://app.notion.com/p/{ds.database_id.replace('-', '')}",
            "public_url": None,
            "in_trash": ds.in_trash,
            "archived": ds.in_trash,
        }

    def page_json(self, page: Page) -> dict[str, Any]:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", page.title).strip("-")
        hexid = page.id.replace("-", "")
        return {
            "object": "page",
            "id": page.id,
            "created_time": page.created_time,
            "last_edited_time": page.last_edited_time,
            "created_by": self.bot_ref(),
            "last_edited_by": dict(page.last_edited_by),
            "cover": page.cover,
            "icon": page.icon,
            "parent": dict(page.parent),
            "in_trash": page.in_trash,
            "is_archived": page.in_trash,
            "is_locked": False,
            "properties": copy.deepcopy(page.properties),
            "url": f"https://app.notion.com/p/{slug + '-' if slug else ''}{hexid}",
            "public_url": None,
            "archived": page.in_trash,
        }

    def block_json(self, page: Page, index: int) -> dict[str, Any]:
        block = page.children[index]
        digest = hashlib.sha256(f"{page.id}/{index}".encode()).digest()
        return {
            "object": "block",
            "id": str(uuid.UUID(bytes=digest[:16], version=4)),
            "parent": {"type": "page_id", "page_id": page.id},
            "created_time": page.created_time,
            "last_edited_time": page.last_edited_time,
            "created_by": self.bot_ref(),
            "last_edited_by": self.bot_ref(),
            "has_children": False,
            "archived": False,
            "in_trash": False,
            **copy.deepcopy(block),
        }

    def users_me_json(self) -> dict[str, Any]:
        return {
            "object": "user",
            "id": BOT_ID,
            "name": self.integration_name,
            "avatar_url": None,
            "type": "bot",
            "bot": {
                "owner": {"type": "workspace", "workspace": True},
                "workspace_name": "figsync sandbox",
                "workspace_id": WORKSPACE_ID,
                "workspace_limits": {"max_file_upload_size_in_bytes": 5242880},
            },
        }

    # -- edits, their times and their webhook events -----------------------------------
    def _tick(self) -> datetime:
        # Notion shows page times rounded down to the minute, so two edits a few seconds apart
        # look alike. The sandbox keeps the exact, strictly increasing time of every edit next to
        # the shown one: answers carry Notion's minute format, while filters and sorts compare
        # exact times. So `on_or_after`/`after` the time shown for an edit still match an edit
        # made later in that same minute (and the edit itself), and a later edit sorts after an
        # earlier one. A client that only kept the shown time must expect to see that edit again.
        now = datetime.now(UTC)
        if now <= self._last_tick:
            now = self._last_tick + timedelta(milliseconds=1)
        self._last_tick = now
        return now

    def _touch(self, page: Page, author: dict[str, Any]) -> None:
        page.edited_at = self._tick()
        page.last_edited_time = minute(page.edited_at)
        page.last_edited_by = {"object": "user", "id": author["id"]}

    def _event(
        self, type_: str, page: Page, data: dict[str, Any], author: dict[str, str], *, via_api: bool
    ) -> str | None:
        return self.webhooks.record(
            type_,
            {"id": page.id, "type": "page"},
            {"parent": page.parent_ref, **data},
            author,
            via_api=via_api,
            at=page.edited_at,
        )

    @staticmethod
    def bot_author() -> dict[str, str]:
        return {"id": BOT_ID, "type": "bot"}

    def set_status(
        self,
        page_id: str,
        status: str,
        *,
        property_name: str | None = None,
        author_id: str = PERSON_USER_ID,
    ) -> tuple[Page, str | None]:
        """Change a page's status as a person in Notion's UI would; returns the page and event id.

        `property_name` names the status property (default: the data source's only status one).
        Sends page.properties_updated if a webhook subscription is configured.
        Raises NotionError (404) for an unknown page, NotionValidationError for a bad status.
        """
        with self.lock:
            page = self.page(page_id)
            if "data_source_id" not in page.parent:
                raise NotionValidationError("Only pages in a data source have a status property.")
            ds = self.data_sources[page.parent["data_source_id"]]
            statuses = [n for n, p in ds.properties.items() if p["type"] == "status"]
            name = (
                property_name if property_name is not None else (statuses[0] if statuses else None)
            )
            if name not in statuses:
                raise NotionValidationError(
                    f"{name or 'The data source'} is not a status property. "
                    f"Status properties: {', '.join(statuses) or 'none'}."
                )
            prop = ds.properties[name]
            value = ns.property_value(
                name, prop, {"status": {"name": status}}, create_select_options=False
            )
            changed = page.properties.get(name) != value
            page.properties[name] = value
            self._touch(page, {"id": author_id})
            if not changed:
                return page, None
            author = {"id": author_id, "type": "person"}
            event_id = self._event(
                "page.properties_updated",
                page,
                {"updated_properties": [prop["id"]]},
                author,
                via_api=False,
            )
            return page, event_id

    # -- operations -------------------------------------------------------------------
    def create_page(self, body: dict[str, Any]) -> Page:
        parent = body.get("parent")
        if not isinstance(parent, dict):
            raise NotionValidationError(
                f"body failed validation: body.parent should be an object, instead was "
                f"`{ns.shown(parent)}`."
            )
        properties = body.get("properties", {})
        if not isinstance(properties, dict):
            raise ns.fail("body.properties", "an object", properties)
        children = ns.blocks(body.get("children", []))
        if "data_source_id" in parent or "database_id" in parent:
            if "data_source_id" in parent:
                ds = self.data_source(str(parent["data_source_id"]))
            else:
                db = self.database(str(parent["database_id"]))
                if len(db.data_source_ids) != 1:
                    raise NotionValidationError(
                        f"Database with ID {db.id} has multiple data sources. "
                        "Use a data_source_id parent instead."
                    )
                ds = self.data_sources[db.data_source_ids[0]]
            values = self._values(ds, properties, creating=True)
            parent_out = {
                "type": "data_source_id",
                "data_source_id": ds.id,
                "database_id": ds.database_id,
            }
        elif "page_id" in parent:
            page_id = self._id(str(parent["page_id"]), "page")
            if page_id != ROOT_PAGE_ID and page_id not in self.pages:
                raise self._not_found("page", str(parent["page_id"]))
            unknown = [k for k in properties if k != "title"]
            if unknown:
                raise NotionValidationError(
                    f"{unknown[0]} is not a property that exists. A page whose parent is a page "
                    "can only have a title property."
                )
            title_prop = ns.schema_property("title", "title", {"title": {}}, "title")
            values = {}
            if "title" in properties:
                raw = properties["title"]
                raw = {"title": raw} if isinstance(raw, list) else raw
                values["title"] = ns.property_value(
                    "title", title_prop, raw, create_select_options=False
                )
            parent_out = {"type": "page_id", "page_id": page_id}
        else:
            raise NotionValidationError(
                "body failed validation: body.parent.data_source_id should be defined, instead "
                "was `undefined`."
            )
        page = Page(id=self.new_id("page"), parent=parent_out, properties=values, children=children)
        self._touch(page, self.bot_ref())
        page.created_at, page.created_time = page.edited_at, page.last_edited_time
        self.pages[page.id] = page
        self._event("page.created", page, {}, self.bot_author(), via_api=True)
        return page

    def append_children(self, page: Page, body: dict[str, Any]) -> range:
        """Append block children; the indexes of the new blocks."""
        added = ns.blocks(body.get("children"))
        start = len(page.children)
        page.children.extend(added)
        self._touch(page, self.bot_ref())
        new = range(start, len(page.children))
        if added:
            blocks = [{"id": self.block_json(page, i)["id"], "type": "block"} for i in new]
            self._event(
                "page.content_updated",
                page,
                {"updated_blocks": blocks},
                self.bot_author(),
                via_api=True,
            )
        return new

    def _values(
        self, ds: DataSource, properties: dict[str, Any], *, creating: bool
    ) -> dict[str, dict[str, Any]]:
        by_id = {p["id"]: name for name, p in ds.properties.items()}
        given: dict[str, Any] = {}
        for key, value in properties.items():
            name = key if key in ds.properties else by_id.get(key)
            if name is None:
                raise NotionValidationError(f"{key} is not a property that exists.")
            given[name] = value
        # Validate everything before touching the schema (new select options) for real.
        schema = copy.deepcopy(ds.properties)
        out = {
            name: ns.property_value(
                name,
                schema[name],
                value,
                create_select_options=self.create_select_options,
                users=self.users,
            )  # fmt: skip
            for name, value in given.items()
        }
        ds.properties = schema
        if creating:
            for name, prop in ds.properties.items():
                out.setdefault(name, ns.empty_value(prop))
            out = {name: out[name] for name in ds.properties}
        return out

    def update_page(self, page: Page, body: dict[str, Any]) -> Page:
        if page.in_trash and body.get("in_trash", body.get("archived")) is not False:
            raise NotionValidationError(
                "Can't edit block that is archived. You must unarchive the block before editing."
            )
        properties = body.get("properties", {})
        if not isinstance(properties, dict):
            raise ns.fail("body.properties", "an object", properties)
        for flag in ("in_trash", "archived"):
            if flag in body and not isinstance(body[flag], bool):
                raise ns.fail(f"body.{flag}", "a boolean", body[flag])
        if "data_source_id" in page.parent:
            updates = self._values(
                self.data_sources[page.parent["data_source_id"]], properties, creating=False
            )
        else:
            unknown = [k for k in properties if k != "title"]
            if unknown:
                raise NotionValidationError(f"{unknown[0]} is not a property that exists.")
            title_prop = ns.schema_property("title", "title", {"title": {}}, "title")
            updates = {
                k: ns.property_value(k, title_prop, v, create_select_options=False)
                for k, v in properties.items()
            }
        changed = [v["id"] for k, v in updates.items() if page.properties.get(k) != v]
        page.properties.update(updates)
        was_in_trash = page.in_trash
        if "in_trash" in body or "archived" in body:
            page.in_trash = bool(body.get("in_trash", body.get("archived")))
        if "icon" in body:
            page.icon = body["icon"]
        if "cover" in body:
            page.cover = body["cover"]
        self._touch(page, self.bot_ref())
        bot = self.bot_author()
        if changed:
            data = {"updated_properties": changed}
            self._event("page.properties_updated", page, data, bot, via_api=True)
        if page.in_trash != was_in_trash:
            kind = "page.deleted" if page.in_trash else "page.undeleted"
            self._event(kind, page, {}, bot, via_api=True)
        return page

    def update_data_source(self, ds: DataSource, body: dict[str, Any]) -> DataSource:
        properties = body.get("properties", {})
        if not isinstance(properties, dict):
            raise ns.fail("body.properties", "an object", properties)
        schema = copy.deepcopy(ds.properties)
        for i, (key, config) in enumerate(properties.items()):
            by_id = {p["id"]: n for n, p in schema.items()}
            name = key if key in schema else by_id.get(key, key)
            if config is None:
                if name not in schema:
                    raise NotionValidationError(f"{key} is not a property that exists.")
                if schema[name]["type"] == "title":
                    raise NotionValidationError("Cannot delete the title property.")
                del schema[name]
                continue
            if not isinstance(config, dict):
                raise ns.fail(f"body.properties.{key}", "an object or `null`", config)
            new_name = config.get("name", name)
            has_type = any(k in ns.PROPERTY_TYPES for k in config) or "type" in config
            if name in schema and not has_type:
                schema[new_name] = dict(schema.pop(name), name=new_name)
                continue
            if name in schema and schema[name]["type"] == "title" and "title" not in config:
                raise NotionValidationError("Cannot change the type of the title property.")
            pid = schema[name]["id"] if name in schema else self._property_id(new_name, i + 7)
            prop = ns.schema_property(new_name, pid, config, f"body.properties.{key}")
            schema.pop(name, None)
            schema[new_name] = prop
        if sum(1 for p in schema.values() if p["type"] == "title") != 1:
            raise NotionValidationError("A data source must have exactly one title property.")
        ds.properties = schema
        if "title" in body:
            ds.name = ns.text_of(ns.rich_text(body["title"], "body.title")) or ds.name
        if "in_trash" in body or "archived" in body:
            ds.in_trash = bool(body.get("in_trash", body.get("archived")))
        return ds

    def query(self, ds: DataSource, body: dict[str, Any]) -> dict[str, Any]:
        page_size = body.get("page_size", 100)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ns.fail("body.page_size", "a positive integer", page_size)
        if page_size > 100:
            raise NotionValidationError(
                f"body failed validation: body.page_size should be ≤ `100`, instead was "
                f"`{page_size}`."
            )
        flt = body.get("filter")
        pages = [
            p
            for p in self.pages.values()
            if p.parent.get("data_source_id") == ds.id and not p.in_trash
        ]
        if flt is not None:
            pages = [p for p in pages if self._matches(ds, p, flt, "body.filter")]
        pages = self._sort(ds, pages, body.get("sorts"))
        start = body.get("start_cursor")
        if start is not None:
            ids = [p.id for p in pages]
            norm = ns.normalize_id(str(start))
            if norm not in ids:
                raise NotionValidationError(
                    f"body failed validation: body.start_cursor should be a valid cursor, "
                    f"instead was `{ns.shown(start)}`."
                )
            pages = pages[ids.index(norm) :]
        window, rest = pages[:page_size], pages[page_size:]
        return {
            "object": "list",
            "results": [self.page_json(p) for p in window],
            "next_cursor": rest[0].id if rest else None,
            "has_more": bool(rest),
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }

    def _sort(self, ds: DataSource, pages: list[Page], sorts: Any) -> list[Page]:
        order = sorted(pages, key=lambda p: p.created_at)
        if sorts is None:
            return list(reversed(order))
        if not isinstance(sorts, list):
            raise ns.fail("body.sorts", "an array", sorts)
        for i, sort in reversed(list(enumerate(sorts))):
            if not isinstance(sort, dict):
                raise ns.fail(f"body.sorts[{i}]", "an object", sort)
            reverse = sort.get("direction", "ascending") == "descending"
            if "timestamp" in sort:
                kind = sort["timestamp"]
                if kind not in TIMESTAMPS:
                    raise ns.fail(
                        f"body.sorts[{i}].timestamp",
                        '`"created_time"` or `"last_edited_time"`',
                        kind,
                    )
                order = sorted(order, key=lambda p, k=kind: p.timestamp(k), reverse=reverse)
                continue
            name = sort.get("property")
            if name not in ds.properties:
                raise NotionValidationError(f"Could not find sort property with name or id: {name}")
            order = sorted(
                order, key=lambda p, n=name: str(p.plain().get(n) or ""), reverse=reverse
            )
        return order

    def _matches(self, ds: DataSource, page: Page, flt: Any, path: str) -> bool:
        if not isinstance(flt, dict):
            raise ns.fail(path, "an object", flt)
        if "and" in flt or "or" in flt:
            key = "and" if "and" in flt else "or"
            parts = flt[key]
            if not isinstance(parts, list):
                raise ns.fail(f"{path}.{key}", "an array", parts)
            results = [
                self._matches(ds, page, f, f"{path}.{key}[{i}]") for i, f in enumerate(parts)
            ]
            return all(results) if key == "and" else any(results)
        if "timestamp" in flt:
            return _matches_timestamp(page, flt, path)
        name = flt.get("property")
        by_id = {p["id"]: n for n, p in ds.properties.items()}
        name = name if name in ds.properties else by_id.get(name)
        if name is None:
            raise NotionValidationError(
                f"Could not find property with name or id: {flt.get('property')}"
            )
        prop = ds.properties[name]
        kinds = [k for k in flt if k != "property"]
        if len(kinds) != 1:
            raise ns.fail(f"{path}.{prop['type']}", "defined", None)
        kind = kinds[0]
        text_like = ("title", "rich_text", "url", "email", "phone_number")
        compatible = kind == prop["type"] or (kind == "rich_text" and prop["type"] in text_like)
        if not compatible:
            raise NotionValidationError(
                f"body failed validation: {path}.{prop['type']} should be defined, instead was "
                f"`undefined`."
            )
        cond = flt[kind]
        if not isinstance(cond, dict) or len(cond) != 1:
            raise ns.fail(f"{path}.{kind}", "an object with one condition", cond)
        op, operand = next(iter(cond.items()))
        value = page.plain().get(name)
        return _compare(op, value, operand, f"{path}.{kind}.{op}")


def _matches_timestamp(page: Page, flt: dict[str, Any], path: str) -> bool:
    kind = flt["timestamp"]
    if kind not in TIMESTAMPS:
        raise ns.fail(f"{path}.timestamp", '`"created_time"` or `"last_edited_time"`', kind)
    cond = flt.get(kind)
    if cond is None:
        raise ns.fail(f"{path}.{kind}", "defined", None)
    if not isinstance(cond, dict) or len(cond) != 1:
        raise ns.fail(f"{path}.{kind}", "an object with one condition", cond)
    op, operand = next(iter(cond.items()))
    where = f"{path}.{kind}.{op}"
    exact = page.timestamp(kind)
    if op in ("is_empty", "is_not_empty"):
        if operand is not True:
            raise ns.fail(where, "`true`", operand)
        return op == "is_not_empty"
    if op in RELATIVE_CONDITIONS:
        if operand != {}:
            raise ns.fail(where, "an empty object", operand)
        return exact >= datetime.now(UTC) - timedelta(days=RELATIVE_CONDITIONS[op])
    if op not in DATE_CONDITIONS:
        raise NotionValidationError(
            f"body failed validation: {where} is not a supported condition."
        )
    when = _parse_date(operand, where)
    if isinstance(when, datetime):
        # `equals` a full time matches at the resolution Notion shows (the minute).
        if op == "equals":
            return minute(exact) == minute(when)
        left: date | datetime = exact
    else:
        left = exact.date()
    return {
        "before": left < when,
        "after": left > when,
        "on_or_before": left <= when,
        "on_or_after": left >= when,
        "equals": left == when,
    }[op]


def _parse_date(raw: Any, path: str) -> date | datetime:
    """An ISO 8601 date (a day, compared by UTC day) or date-time (UTC if it has no offset)."""
    bad = ns.fail(path, "a valid ISO 8601 date string", raw)
    if not isinstance(raw, str):
        raise bad
    try:
        if DATE_RE.fullmatch(raw):
            return date.fromisoformat(raw)
        if DATETIME_RE.fullmatch(raw):
            parsed = datetime.fromisoformat(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise bad from None
    raise bad


def _compare(op: str, value: Any, operand: Any, path: str) -> bool:
    if op == "is_empty":
        return value in (None, "", [], False)
    if op == "is_not_empty":
        return value not in (None, "", [], False)
    if isinstance(value, list):  # multi_select
        if op == "contains":
            return operand in value
        if op == "does_not_contain":
            return operand not in value
        raise ns.fail(path, "a supported multi_select condition", op)
    if op == "equals":
        return value == operand
    if op == "does_not_equal":
        return value != operand
    text = "" if value is None else str(value)
    if not isinstance(operand, str):
        raise ns.fail(path, "a string", operand)
    if op == "contains":
        return operand in text
    if op == "does_not_contain":
        return operand not in text
    if op == "starts_with":
        return text.startswith(operand)
    if op == "ends_with":
        return text.endswith(operand)
    raise NotionValidationError(f"body failed validation: {path} is not a supported condition.")


def create_app(state: NotionState) -> FastAPI:
    """The Notion sandbox as an ASGI app."""
    app = FastAPI(title="figsync sandbox: Notion", openapi_url=None, docs_url=None)
    control.install(app, state)

    async def handle(request: Request, action: Any, *, needs_body: bool = False) -> Response:
        request_id = str(uuid.uuid4())
        try:
            guard(request)
            body: dict[str, Any] = {}
            if needs_body:
                raw = await request.body()
                if raw:
                    try:
                        body = json.loads(raw)
                    except (ValueError, UnicodeDecodeError) as exc:
                        raise NotionError(400, "invalid_json", "Error parsing JSON body.") from exc
                    if not isinstance(body, dict):
                        raise NotionError(400, "invalid_json", "Error parsing JSON body.")
            with state.lock:
                result = action(body)
        except NotionError as err:
            return state.error_response(err.status, err.code, err.message, extra=err.extra)
        except NotionValidationError as err:
            return state.error_response(400, "validation_error", str(err))
        return JSONResponse({**result, "request_id": request_id})

    def guard(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        with state.lock:
            known = token in state.tokens
        if not known:
            raise NotionError(401, "unauthorized", "API token is invalid.")
        version = request.headers.get("notion-version")
        if version is None:
            raise NotionError(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be "
                "defined, instead was `undefined`.",
            )
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
            raise NotionError(
                400,
                "validation_error",
                f"Notion-Version header failed validation: Notion-Version header should be a "
                f'valid version, instead was `"{version}"`.',
            )
        with state.lock:
            wait = state.limiter.hit(token or "")
        if wait is not None:
            raise NotionError(429, "rate_limited", ERROR_CODES[429][1], {"retry_after": wait})

    @app.get("/v1/users/me")
    async def users_me(request: Request) -> Response:
        return await handle(request, lambda _: state.users_me_json())

    @app.get("/v1/users")
    async def users_list(request: Request) -> Response:
        return await handle(request, lambda _: state.users_page(request.query_params))

    @app.get("/v1/databases/{database_id}")
    async def get_database(database_id: str, request: Request) -> Response:
        return await handle(request, lambda _: state.database_json(state.database(database_id)))

    @app.get("/v1/data_sources/{data_source_id}")
    async def get_data_source(data_source_id: str, request: Request) -> Response:
        return await handle(
            request, lambda _: state.data_source_json(state.data_source(data_source_id))
        )

    @app.patch("/v1/data_sources/{data_source_id}")
    async def patch_data_source(data_source_id: str, request: Request) -> Response:
        return await handle(
            request,
            lambda body: state.data_source_json(
                state.update_data_source(state.data_source(data_source_id), body)
            ),
            needs_body=True,
        )

    @app.post("/v1/data_sources/{data_source_id}/query")
    async def query(data_source_id: str, request: Request) -> Response:
        return await handle(
            request,
            lambda body: state.query(state.data_source(data_source_id), body),
            needs_body=True,
        )

    @app.post("/v1/pages")
    async def create_page(request: Request) -> Response:
        return await handle(
            request, lambda body: state.page_json(state.create_page(body)), needs_body=True
        )

    @app.get("/v1/pages/{page_id}")
    async def get_page(page_id: str, request: Request) -> Response:
        return await handle(request, lambda _: state.page_json(state.page(page_id)))

    @app.patch("/v1/pages/{page_id}")
    async def patch_page(page_id: str, request: Request) -> Response:
        return await handle(
            request,
            lambda body: state.page_json(state.update_page(state.page(page_id), body)),
            needs_body=True,
        )

    @app.get("/v1/blocks/{block_id}/children")
    async def block_children(block_id: str, request: Request) -> Response:
        def action(_: dict[str, Any]) -> dict[str, Any]:
            page = state.page(block_id)
            return {
                "object": "list",
                "results": [state.block_json(page, i) for i in range(len(page.children))],
                "next_cursor": None,
                "has_more": False,
                "type": "block",
                "block": {},
            }

        return await handle(request, action)

    @app.patch("/v1/blocks/{block_id}/children")
    async def append_children(block_id: str, request: Request) -> Response:
        def action(body: dict[str, Any]) -> dict[str, Any]:
            page = state.page(block_id)
            added = state.append_children(page, body)
            return {
                "object": "list",
                "results": [state.block_json(page, i) for i in added],
                "next_cursor": None,
                "has_more": False,
                "type": "block",
                "block": {},
            }

        return await handle(request, action, needs_body=True)

    _install_seed_routes(app, state)
    return app


def _install_seed_routes(app: FastAPI, state: NotionState) -> None:
    prefix = control.CONTROL_PREFIX

    @app.post(f"{prefix}/databases")
    async def seed_database(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        title = body.get("title")
        props = body.get("properties", TASKS_PROPERTIES)
        if not isinstance(title, str) or not isinstance(props, dict):
            return control.control_error(
                400, "notion.bad_database: title (string) and properties (object) are required"
            )
        try:
            db = state.add_database(
                title,
                props,
                shared=bool(body.get("shared", True)),
                database_id=body.get("id"),
                data_source_id=body.get("data_source_id"),
            )
        except (NotionValidationError, StopIteration, AttributeError) as exc:
            return control.control_error(400, f"notion.bad_database: {exc}")
        return JSONResponse({"id": db.id, "data_source_id": db.data_source_ids[0]})

    @app.post(f"{prefix}/databases/{{database_id}}/share")
    async def share(database_id: str, request: Request) -> Response:
        body = await control.control_json(request, allow_empty=True)
        if isinstance(body, Response):
            return body
        if database_id not in state.databases:
            return control.control_error(404, f"notion.database_not_found: {database_id}")
        state.share(database_id, bool(body.get("shared", True)))
        return JSONResponse({"ok": True})

    @app.get(f"{prefix}/pages")
    async def pages(data_source_id: str | None = None) -> dict[str, Any]:
        """The pages created since the reset; `?data_source_id=` only those of one data source."""
        with state.lock:
            return {
                "pages": [
                    dict(state.page_json(p), plain=p.plain(), children=p.children)
                    for p in state.created_pages(data_source_id)
                ]
            }

    @app.post(f"{prefix}/pages/{{page_id}}/status")
    async def set_status(page_id: str, request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        status, prop = body.get("status"), body.get("property")
        author_id = body.get("author_id", PERSON_USER_ID)
        if not isinstance(status, str) or not isinstance(prop, str | None):
            return control.control_error(
                400, "notion.bad_status: status (a string) is required; property is a string"
            )
        if not isinstance(author_id, str) or ns.normalize_id(author_id) is None:
            return control.control_error(400, "notion.bad_author: author_id must be a uuid")
        try:
            page, event_id = state.set_status(
                page_id, status, property_name=prop, author_id=ns.normalize_id(author_id) or ""
            )
        except NotionError as err:
            code = "notion.page_not_found" if err.status == 404 else "notion.bad_page_id"
            return control.control_error(err.status, f"{code}: {err.message}")
        except NotionValidationError as err:
            return control.control_error(400, f"notion.bad_status: {err}")
        with state.lock:
            return JSONResponse({"page": state.page_json(page), "event_id": event_id})

    _install_webhook_routes(app, state)

    @app.post(f"{prefix}/users")
    async def seed_users(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        people = body.get("users")
        if not isinstance(people, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) for p in people
        ):
            return control.control_error(
                400, "notion.bad_users: users is a list of {name, email?, id?}"
            )
        if body.get("replace"):
            with state.lock:
                state.users = {}
        try:
            ids = [state.add_user(p["name"], str(p.get("email") or ""), user_id=p.get("id"))
                   for p in people]  # fmt: skip
        except NotionValidationError as exc:
            return control.control_error(400, f"notion.bad_users: {exc}")
        return JSONResponse({"ids": ids})

    @app.post(f"{prefix}/config")
    async def configure(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        unknown = set(body) - {"rate_per_second", "burst", "create_select_options"}
        if unknown:
            return control.control_error(400, f"notion.bad_config: unknown keys {sorted(unknown)}")
        state.configure(**body)
        return JSONResponse({"ok": True})


def _install_webhook_routes(app: FastAPI, state: NotionState) -> None:
    prefix = f"{control.CONTROL_PREFIX}/webhooks"
    hooks = state.webhooks

    def sent(delivery: Any) -> JSONResponse:
        return JSONResponse(delivery.to_dict())

    @app.post(prefix)
    async def subscribe(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        allowed = {"url", "verification_token", "on_api_changes", "retry_delays", "max_attempts"}
        unknown = set(body) - allowed
        if unknown:
            return control.control_error(
                400,
                f"notion.bad_webhook: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}",
            )
        url, token = body.get("url"), body.get("verification_token")
        delays, attempts = body.get("retry_delays"), body.get("max_attempts")
        on_api = body.get("on_api_changes", True)
        if (
            not isinstance(url, str)
            or not isinstance(token, str | None)
            or not isinstance(on_api, bool)
            or not (delays is None or _numbers(delays))
            or not (
                attempts is None or (isinstance(attempts, int) and not isinstance(attempts, bool))
            )
        ):
            return control.control_error(
                400,
                "notion.bad_webhook: url (string), verification_token (string), on_api_changes "
                "(boolean), retry_delays (list of seconds), max_attempts (integer)",
            )
        try:
            with state.lock:
                sub = hooks.subscribe(
                    url,
                    verification_token=token,
                    on_api_changes=on_api,
                    retry_delays=None if delays is None else tuple(delays),
                    max_attempts=attempts,
                )
        except ValueError as exc:
            return control.control_error(400, str(exc))
        return JSONResponse(
            dict(sub.to_dict(), workspace_id=WORKSPACE_ID, integration_id=INTEGRATION_ID)
        )

    @app.get(prefix)
    async def webhooks() -> dict[str, Any]:
        with state.lock:
            return hooks.snapshot()

    @app.delete(prefix)
    async def unsubscribe() -> dict[str, Any]:
        with state.lock:
            hooks.unsubscribe()
        return {"ok": True}

    @app.post(f"{prefix}/verify")
    async def verify() -> Response:
        try:
            return sent(await hooks.verify())
        except ValueError as exc:
            return control.control_error(400, str(exc))

    @app.post(f"{prefix}/replay")
    async def replay(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        event_id, attempt, url = body.get("event_id"), body.get("attempt"), body.get("url")
        if not isinstance(event_id, str) or not isinstance(url, str | None):
            return control.control_error(400, "notion.bad_replay: event_id (a string) is required")
        if attempt is not None and (not isinstance(attempt, int) or isinstance(attempt, bool)):
            return control.control_error(400, "notion.bad_replay: attempt must be an integer")
        try:
            return sent(await hooks.replay(event_id, attempt, url))
        except KeyError as exc:
            return control.control_error(404, str(exc.args[0]))

    @app.post(f"{prefix}/send")
    async def send(request: Request) -> Response:
        body = await control.control_json(request)
        if isinstance(body, Response):
            return body
        payload, raw, url = body.get("body"), body.get("raw"), body.get("url")
        if (payload is None) == (raw is None) or not isinstance(url, str | None):
            return control.control_error(
                400, "notion.bad_send: give either body (a JSON object) or raw (a string)"
            )
        if raw is not None and not isinstance(raw, str):
            return control.control_error(400, "notion.bad_send: raw must be a string")
        data = raw.encode() if isinstance(raw, str) else encode(payload)
        try:
            if "signature" in body:
                signature = body["signature"]
                if not isinstance(signature, str | None):
                    return control.control_error(
                        400, "notion.bad_send: signature must be a string or null"
                    )
            else:
                signature = sign(hooks._require().verification_token, data)
            return sent(await hooks.send(data, signature, url))
        except ValueError as exc:
            return control.control_error(400, str(exc))


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value
    )
