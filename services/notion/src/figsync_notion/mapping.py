"""From a job's events to a Notion page: the task's fields, the team's mapping onto the data
source's properties (type-aware), the page body, and Notion's size limits. No I/O here."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from figsync_clients.figma import comment_url
from figsync_contracts import SummaryGenerated, ThreadComment, ThreadResolved
from figsync_runtime import PermanentError

MAX_TEXT = 2000  # characters per rich text object (counted as UTF-16 units, as Notion does)
MAX_ARRAY = 100  # elements per array: rich text, multi_select, people, children per request
MAX_BLOCKS = 1000  # blocks per request, nested ones included
MAX_REQUEST_BYTES = 490_000  # Notion refuses bodies over 500 KB; keep a margin
MAX_BLOCK_BYTES = 200_000  # one paragraph's rich text, so any block fits into a request
MAX_OPTION = 100  # characters of a select option's name

TEXT, LIST, URL, DATE, OPTION = "text", "list", "url", "date", "option"

FIELD_KINDS: dict[str, str] = {
    "title": TEXT,
    "summary": TEXT,
    "action_items": LIST,
    "priority": OPTION,
    "category": OPTION,
    "status": OPTION,
    "figma_file_url": URL,
    "figma_thread_url": URL,
    "file_name": TEXT,
    "file_key": TEXT,
    "created_from": TEXT,
    "mentioned_user": TEXT,
    "mentions": LIST,
    "author": TEXT,
    "comment_text": TEXT,
    "thread": TEXT,
    "created_at": DATE,
    "job_id": TEXT,
}
PEOPLE_FIELDS = frozenset({"mentioned_user", "mentions", "author"})

# Which property types each kind of field can fill.
COMPATIBLE: dict[str, frozenset[str]] = {
    TEXT: frozenset({"title", "rich_text", "select", "multi_select", "status"}),
    OPTION: frozenset({"title", "rich_text", "select", "multi_select", "status"}),
    LIST: frozenset({"title", "rich_text", "multi_select"}),
    URL: frozenset({"title", "rich_text", "url"}),
    DATE: frozenset({"title", "rich_text", "date"}),
}

# The seed's mapping (property name → task field); a team's own mapping is laid over it.
DEFAULT_MAPPING: dict[str, str] = {
    "Title": "title",
    "Summary": "summary",
    "Figma File": "figma_file_url",
    "Figma Thread": "figma_thread_url",
    "Priority": "priority",
    "Category": "category",
    "Action Items": "action_items",
    "Status": "status",
    "Created From": "created_from",
    "Mentioned User": "mentioned_user",
}
INITIAL_STATUS = "Not started"


@dataclass(frozen=True)
class Task:
    """What a Notion task says, gathered from the job's ThreadResolved and SummaryGenerated."""

    job_id: str
    thread: ThreadResolved
    summary: SummaryGenerated
    created_at: datetime | None = None
    # Its place among the thread's tasks (0: the first, or the only one).
    index: int = 0

    @property
    def sync_id(self) -> str:
        """What the page's sync-id property holds: the job id, `#n` after it for the n-th of
        several tasks (so each page is found again, alone, after a crash)."""
        return self.job_id if self.index == 0 else f"{self.job_id}#{self.index + 1}"

    @property
    def thread_url(self) -> str:
        return f"{self.thread.file_url}#{self.thread.root_comment_id}"

    def value(self, name: str) -> Any:
        t, s = self.thread, self.summary
        values: dict[str, Any] = {
            "title": s.title.strip() or f"Figma comment in {t.file_name}",
            "summary": s.summary,
            "action_items": list(s.action_items),
            "priority": s.priority,
            "category": s.category,
            "status": INITIAL_STATUS,
            "figma_file_url": t.file_url,
            "figma_thread_url": self.thread_url,
            "file_name": t.file_name,
            "file_key": t.file_key,
            "created_from": f"Figma comment by {t.author} in {t.file_name}",
            "mentioned_user": ", ".join(t.mentions),
            "mentions": list(t.mentions),
            "author": t.author,
            "comment_text": t.text,
            "thread": "\n\n".join(f"{c.author}: {c.text}" for c in t.thread) or t.text,
            "created_at": self.created_at,
            "job_id": self.job_id,
        }
        return values[name]


@dataclass(frozen=True)
class Schema:
    """A data source as figsync needs it: ids, the database's title, its property schema."""

    data_source_id: str
    database_id: str
    title: str
    properties: Mapping[str, Mapping[str, Any]]

    @property
    def title_property(self) -> str:
        return next(n for n, p in self.properties.items() if p.get("type") == "title")

    def options(self, name: str) -> list[str]:
        prop = self.properties[name]
        return [o["name"] for o in prop.get(prop["type"], {}).get("options", [])]


@dataclass(frozen=True)
class Problem:
    """A mapping that cannot work, with a stable code and what to do about it."""

    code: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)

    def error(self) -> PermanentError:
        return PermanentError(self.code, self.message, context=self.context)


@dataclass(frozen=True)
class Binding:
    """One property to fill: its name and type, the task field, and whether the team chose it."""

    prop: str
    kind: str
    task_field: str
    explicit: bool


def plan(
    schema: Schema, team_mapping: Mapping[str, str]
) -> tuple[list[Binding], list[Problem], list[str]]:
    """The properties to fill, the problems that stop a task, and notes about skipped defaults.

    The team's entries are strict (a missing or mistyped property is an error); the seed's
    defaults apply where the database has such a property ("" in the team's mapping drops one).
    The title property always gets the task's title unless the mapping fills it otherwise.
    """
    merged = {**DEFAULT_MAPPING, **team_mapping}
    bindings: list[Binding] = []
    problems: list[Problem] = []
    notes: list[str] = []
    where = f'the database "{schema.title}"'
    for prop, task_field in merged.items():
        if not task_field:
            continue
        explicit = prop in team_mapping
        if task_field not in FIELD_KINDS:
            problems.append(
                Problem(
                    "notion.unknown_task_field",
                    f'the mapping sends "{task_field}" to "{prop}", but tasks have no such field; '
                    f"use one of {', '.join(sorted(FIELD_KINDS))}",
                    {"property": prop, "field": task_field},
                )
            )
            continue
        definition = schema.properties.get(prop)
        if definition is None:
            if explicit:
                problems.append(
                    Problem(
                        "notion.property_missing",
                        f'{where} has no property "{prop}" (mapped to {task_field}); add it in '
                        f"Notion or change the team's notion_field_mapping",
                        {"property": prop, "field": task_field, "database": schema.title},
                    )
                )
            else:
                notes.append(f'"{prop}" not in {where}: {task_field} is not written')
            continue
        kind = definition["type"]
        allowed = set(COMPATIBLE[FIELD_KINDS[task_field]])
        if task_field in PEOPLE_FIELDS:
            allowed.add("people")
        if kind not in allowed:
            problems.append(
                Problem(
                    "notion.property_wrong_type",
                    f'"{prop}" in {where} is a {kind} property, which cannot hold {task_field}; '
                    f"make it one of {', '.join(sorted(allowed))}, or map it to another field "
                    f'(notion_field_mapping {{"{prop}": ""}} leaves it out)',
                    {
                        "property": prop,
                        "field": task_field,
                        "type": kind,
                        "expected": sorted(allowed),
                    },
                )
            )
            continue
        bindings.append(Binding(prop, kind, task_field, explicit))
    if not any(b.kind == "title" for b in bindings) and schema.properties:
        bindings.append(Binding(schema.title_property, "title", "title", explicit=False))
    return bindings, problems, notes


def check_options(schema: Schema, bindings: Sequence[Binding], task: Task) -> list[Binding]:
    """Drop default status bindings whose option does not exist; raise for explicit ones.

    Notion creates unknown select options on write but never status options."""
    kept = []
    for b in bindings:
        if b.kind == "status":
            wanted = _option_name(_as_text(task.value(b.task_field)), status=True)
            options = schema.options(b.prop)
            if wanted not in options:
                if not b.explicit:
                    continue
                raise Problem(
                    "notion.select_option_missing",
                    f'the status property "{b.prop}" of the database "{schema.title}" has no '
                    f'option "{wanted}" (options: {", ".join(options) or "none"}); add it in '
                    "Notion (the API cannot create status options) or map another field",
                    {"property": b.prop, "option": wanted, "database": schema.title},
                ).error()
        kept.append(b)
    return kept


# -- property values ---------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def chunk_text(text: str, size: int = MAX_TEXT) -> list[str]:
    """Split text into pieces of at most `size` UTF-16 units, never inside a character."""
    chunks: list[str] = []
    current: list[str] = []
    units = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > size:
            chunks.append("".join(current))
            current, units = [], 0
        current.append(char)
        units += width
    if current:
        chunks.append("".join(current))
    return chunks


def rich_text(
    text: str, *, link: str | None = None, limit: int = MAX_ARRAY, bold: bool = False
) -> list[dict[str, Any]]:
    """Text as rich text objects of ≤ 2,000 characters, at most `limit` of them (the end of a
    longer text is cut, with an ellipsis)."""
    chunks = chunk_text(text)
    if len(chunks) > limit:
        chunks = chunks[:limit]
        chunks[-1] = chunks[-1][:-1] + "…"
    out = []
    for chunk in chunks:
        content: dict[str, Any] = {"content": chunk}
        if link:
            content["link"] = {"url": link}
        item: dict[str, Any] = {"type": "text", "text": content}
        if bold:
            item["annotations"] = {"bold": True}
        out.append(item)
    return out


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "\n".join(f"• {v}" for v in value)
    return str(value)


def _option_name(text: str, *, status: bool = False) -> str:
    name = " ".join(text.split())
    if not status:
        name = name.replace(",", " ")  # Notion refuses commas in select option names
    return name[:MAX_OPTION].strip()


@dataclass(frozen=True)
class Person:
    """A Notion user figsync may put in a people property."""

    id: str
    name: str = ""
    email: str = ""

    @classmethod
    def from_api(cls, user: Mapping[str, Any]) -> Person | None:
        """A person of GET /v1/users (`{object: "user", id, type, name, person: {email}}`);
        None for bots and anything else that is not a person."""
        if user.get("type") != "person" or not isinstance(user.get("id"), str):
            return None
        person = user.get("person") if isinstance(user.get("person"), dict) else {}
        return cls(user["id"], str(user.get("name") or ""), str(person.get("email") or ""))


def _people(value: Any, directory: Sequence[Person]) -> list[dict[str, Any]]:
    handles = value if isinstance(value, list) else [v for v in str(value or "").split(",")]
    wanted = {h.strip().lstrip("@").casefold() for h in handles if h.strip()}
    found = []
    for person in directory:
        keys = {person.name.casefold(), person.email.casefold()}
        if person.email:
            keys.add(person.email.split("@")[0].casefold())
        if wanted & keys and person.id not in [p["id"] for p in found]:
            found.append({"object": "user", "id": person.id})
    return found[:MAX_ARRAY]


def property_value(
    kind: str, value: Any, directory: Sequence[Person] = ()
) -> dict[str, Any] | None:
    """The request value of one property, or None to leave it out."""
    if kind in ("title", "rich_text"):
        link = (
            value if isinstance(value, str) and value.startswith(("http://", "https://")) else None
        )
        return {kind: rich_text(_as_text(value), link=link)}
    if kind in ("select", "status"):
        name = _option_name(_as_text(value), status=kind == "status")
        return {kind: {"name": name}} if name else {kind: None}
    if kind == "multi_select":
        items = value if isinstance(value, list) else [value]
        names: list[str] = []
        for item in items:
            name = _option_name(_as_text(item))
            if name and name not in names:
                names.append(name)
        return {"multi_select": [{"name": n} for n in names[:MAX_ARRAY]]}
    if kind == "url":
        url = _as_text(value)
        return {"url": url if url and utf16_len(url) <= MAX_TEXT else None}
    if kind == "date":
        return {"date": {"start": value.isoformat()} if isinstance(value, datetime) else None}
    if kind == "people":
        return {"people": _people(value, directory)}
    return None


def build_properties(
    bindings: Sequence[Binding],
    task: Task,
    sync_property: str,
    directory: Sequence[Person] = (),
) -> dict[str, Any]:
    """The `properties` of the create request, the sync id included."""
    properties: dict[str, Any] = {}
    for b in bindings:
        value = property_value(b.kind, task.value(b.task_field), directory)
        if value is not None:
            properties[b.prop] = value
    properties[sync_property] = {"rich_text": rich_text(task.sync_id)}
    return _fit_properties(properties)


def _fit_properties(
    properties: dict[str, Any], budget: int = MAX_REQUEST_BYTES // 2
) -> dict[str, Any]:
    # Rich text properties may each hold 100 x 2,000 characters, together far more than one
    # request may carry: shorten the longest until the properties take at most half a request.
    while size_of(properties) > budget:
        texts = [
            (size_of(v), name, kind)
            for name, v in properties.items()
            for kind in ("rich_text", "title")
            if kind in v and len(v[kind]) > 1
        ]
        if not texts:
            break
        _, name, kind = max(texts)
        items = properties[name][kind]
        properties[name] = {kind: items[: max(1, len(items) // 2)]}
    return properties


# -- the page body -----------------------------------------------------------------------------


def size_of(body: Any) -> int:
    """Bytes of a JSON body as httpx sends it."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def _block(kind: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": items, **extra}}


def _paragraphs(
    items: list[dict[str, Any]], kind: str = "paragraph", **extra: Any
) -> Iterator[dict[str, Any]]:
    # A long text becomes several blocks: at most 100 objects and 200 KB each.
    group: list[dict[str, Any]] = []
    for item in items:
        if group and (len(group) >= MAX_ARRAY or size_of(group) + size_of(item) > MAX_BLOCK_BYTES):
            yield _block(kind, group, **extra)
            group = []
        group.append(item)
    yield _block(kind, group, **extra)


def page_blocks(task: Task) -> list[dict[str, Any]]:
    """The page body: the action items as to-dos, then the thread, comment by comment."""
    blocks: list[dict[str, Any]] = []
    items = task.summary.action_items
    if items:
        blocks.append(_block("heading_2", rich_text("Action items")))
        for item in items:
            blocks.extend(_paragraphs(rich_text(item, limit=10**6), "to_do", checked=False))
    blocks.append(_block("heading_2", rich_text(f"Thread in {task.thread.file_name}")))
    comments = task.thread.thread or []
    if not comments:
        author, text = task.thread.author, task.thread.text
        blocks.extend(
            _paragraphs(rich_text(f"{author}: ", bold=True) + rich_text(text, limit=10**6))
        )
    for comment in comments:
        head = rich_text(f"{comment.author}: ", bold=True)
        blocks.extend(_paragraphs(head + rich_text(comment.text, limit=10**6)))
    blocks.append(_block("paragraph", rich_text("Open the thread in Figma", link=task.thread_url)))
    return blocks


def update_blocks(
    task: Task, comments: Sequence[ThreadComment], when: datetime
) -> list[dict[str, Any]]:
    """What a thread update appends to the page: the new comments (each with its link to
    Figma, which is how a retry finds the ones already there), then the refreshed summary."""
    blocks = [_block("heading_3", rich_text(f"Thread update · {when:%Y-%m-%d %H:%M} UTC"))]
    for comment in comments:
        at = f" · {comment.created_at:%Y-%m-%d %H:%M}" if comment.created_at else ""
        head = rich_text(f"{comment.author}{at}: ", bold=True)
        link = rich_text(" (open in Figma)", link=comment_link(task, comment.comment_id))
        blocks.extend(_paragraphs(head + rich_text(comment.text, limit=10**6) + link))
    blocks.extend(
        _paragraphs(rich_text("Summary now: ", bold=True) + rich_text(task.summary.summary))
    )
    for item in task.summary.action_items:
        blocks.extend(_paragraphs(rich_text(item, limit=10**6), "to_do", checked=False))
    return blocks


def comment_link(task: Task, comment_id: str) -> str:
    return comment_url(task.thread.file_key, comment_id)


def _count(block: dict[str, Any]) -> int:
    kind = block.get("type", "")
    children = block.get(kind, {}).get("children", []) if isinstance(block.get(kind), dict) else []
    return 1 + sum(_count(c) for c in children)


def batches(
    blocks: Sequence[dict[str, Any]],
    *,
    first_budget: int = MAX_REQUEST_BYTES,
    budget: int = MAX_REQUEST_BYTES,
    max_children: int = MAX_ARRAY,
    max_blocks: int = MAX_BLOCKS,
) -> list[list[dict[str, Any]]]:
    """Split blocks into requests: ≤ 100 children, ≤ 1,000 blocks with nested ones, ≤ the byte
    budget each (the first request also carries the properties, hence its own budget)."""
    out: list[list[dict[str, Any]]] = [[]]
    size = count = 0
    limit = first_budget
    overhead = size_of({"children": []})
    for block in blocks:
        block_size, block_count = size_of(block) + 1, _count(block)
        current = out[-1]
        full = (
            len(current) >= max_children
            or count + block_count > max_blocks
            or overhead + size + block_size > limit
        )
        if current and full:
            out.append([])
            size = count = 0
            limit = budget
        elif not current and overhead + block_size > limit and len(out) == 1:
            # The first request has no room left after the properties: start with an append.
            out.append([])
            limit = budget
        out[-1].append(block)
        size += block_size
        count += block_count
    return out
