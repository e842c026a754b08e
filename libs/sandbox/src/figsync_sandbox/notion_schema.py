"""Notion's property values, rich text and blocks: validation with Notion's messages, and shapes."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_TEXT = 2000
MAX_ARRAY = 100
SELECT_COLORS = ("blue", "brown", "gray", "green", "orange", "pink", "purple", "red", "yellow")
TEXT_BLOCKS = (
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "quote",
    "callout",
    "toggle",
    "code",
)
PROPERTY_TYPES = (
    "title",
    "rich_text",
    "select",
    "multi_select",
    "status",
    "url",
    "email",
    "phone_number",
    "number",
    "checkbox",
    "date",
    "people",
)
STATUS_GROUPS = (("To-do", "gray"), ("In progress", "blue"), ("Complete", "green"))
# What Notion gives a status property created without options, with each option's group.
DEFAULT_STATUS_OPTIONS = (
    {"name": "Not started", "color": "default", "group": "To-do"},
    {"name": "In progress", "color": "blue", "group": "In progress"},
    {"name": "Done", "color": "green", "group": "Complete"},
)
DEFAULT_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}


class NotionValidationError(Exception):
    """A request Notion would refuse with 400 validation_error; the message is Notion's."""


def shown(value: Any) -> str:
    """How Notion prints an offending value in its messages."""
    if value is None:
        return "undefined"
    return json.dumps(value, ensure_ascii=False)


def fail(path: str, expectation: str, value: Any) -> NotionValidationError:
    return NotionValidationError(
        f"body failed validation: {path} should be {expectation}, instead was `{shown(value)}`."
    )


def array(value: Any, path: str) -> list[Any]:
    """An array of at most 100 elements, or Notion's refusal."""
    if not isinstance(value, list):
        raise fail(path, "an array", value)
    if len(value) > MAX_ARRAY:
        raise NotionValidationError(
            f"body failed validation: {path}.length should be ≤ `{MAX_ARRAY}`, "
            f"instead was `{len(value)}`."
        )
    return value


def rich_text(value: Any, path: str) -> list[dict[str, Any]]:
    """Validate a rich text array and return it in the shape Notion answers with."""
    array(value, path)
    out = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise fail(where, "an object", item)
        kind = item.get("type", "text")
        if kind != "text":
            raise fail(f"{where}.type", '`"text"`', kind)
        text = item.get("text")
        if not isinstance(text, dict):
            raise fail(f"{where}.text", "defined", text)
        content = text.get("content")
        if not isinstance(content, str):
            raise fail(f"{where}.text.content", "a string", content)
        if len(content) > MAX_TEXT:
            raise NotionValidationError(
                f"body failed validation: {where}.text.content.length should be ≤ "
                f"`{MAX_TEXT}`, instead was `{len(content)}`."
            )
        link = text.get("link")
        url = link.get("url") if isinstance(link, dict) else None
        if link is not None and not isinstance(url, str):
            raise fail(f"{where}.text.link.url", "a string", url)
        annotations = dict(DEFAULT_ANNOTATIONS)
        if isinstance(item.get("annotations"), dict):
            annotations.update(
                {k: v for k, v in item["annotations"].items() if k in DEFAULT_ANNOTATIONS}
            )
        out.append(
            {
                "type": "text",
                "text": {"content": content, "link": {"url": url} if url else None},
                "annotations": annotations,
                "plain_text": content,
                "href": url,
            }
        )
    return out


def text_of(items: list[dict[str, Any]]) -> str:
    """The plain text of a rich text array."""
    return "".join(i.get("plain_text", "") for i in items)


def option_id(name: str) -> str:
    return "".join(f"{ord(c):x}" for c in name)[:8] or "empty"


def schema_property(name: str, pid: str, config: Any, path: str) -> dict[str, Any]:
    """Validate a property definition ({"select": {...}}) and return the data source shape."""
    if not isinstance(config, dict):
        raise fail(path, "an object", config)
    kinds = [k for k in config if k in PROPERTY_TYPES]
    kind = config.get("type") or (kinds[0] if len(kinds) == 1 else None)
    if kind not in PROPERTY_TYPES:
        raise fail(f"{path}.type", "one of " + ", ".join(f"`{t}`" for t in PROPERTY_TYPES), kind)
    prop: dict[str, Any] = {"id": pid, "name": name, "description": None, "type": kind}
    body = config.get(kind) or {}
    if kind in ("select", "multi_select", "status"):
        options, groups = [], {}
        given = body.get("options")
        if kind == "status" and not given:
            given = [dict(o) for o in DEFAULT_STATUS_OPTIONS]
        for i, opt in enumerate(given or []):
            oname = opt.get("name") if isinstance(opt, dict) else None
            if not isinstance(oname, str) or not oname:
                raise fail(f"{path}.{kind}.options[{i}].name", "a string", oname)
            if "," in oname and kind != "status":
                raise NotionValidationError(f"Invalid select option, commas not allowed: {oname}")
            group = opt.get("group")
            if group is not None:
                names = [n for n, _ in STATUS_GROUPS]
                if kind != "status" or group not in names:
                    raise fail(f"{path}.{kind}.options[{i}].group", f"one of {names}", group)
                groups[option_id(oname)] = group
            options.append(
                {
                    "id": option_id(oname),
                    "name": oname,
                    "color": opt.get("color", SELECT_COLORS[i % len(SELECT_COLORS)]),
                    "description": None,
                }
            )
        prop[kind] = {"options": options}
        if kind == "status":
            prop[kind]["groups"] = status_groups(options, groups)
    elif kind == "number":
        prop[kind] = {"format": body.get("format", "number")}
    else:
        prop[kind] = {}
    return prop


def status_groups(
    options: list[dict[str, Any]], chosen: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Notion's three status groups (To-do, In progress, Complete) with their option ids.

    An option goes to the group `chosen` names for its id; otherwise by position: the first
    option is To-do, the last Complete, the ones between In progress.
    """
    names = [n for n, _ in STATUS_GROUPS]
    ids: list[list[str]] = [[], [], []]
    for i, opt in enumerate(options):
        if chosen and opt["id"] in chosen:
            ids[names.index(chosen[opt["id"]])].append(opt["id"])
        else:
            ids[0 if i == 0 else (2 if i == len(options) - 1 and i > 0 else 1)].append(opt["id"])
    return [
        {"id": option_id(n), "name": n, "color": c, "option_ids": ids[i]}
        for i, (n, c) in enumerate(STATUS_GROUPS)
    ]


def empty_value(prop: dict[str, Any]) -> dict[str, Any]:
    """The value a new page gets for a property it was not given."""
    kind = prop["type"]
    value: Any
    if kind in ("title", "rich_text", "multi_select", "people"):
        value = []
    elif kind == "checkbox":
        value = False
    elif kind == "status":
        options = prop["status"]["options"]
        value = _option_out(options[0]) if options else None
    else:
        value = None
    return {"id": prop["id"], "type": kind, kind: value}


def _option_out(opt: dict[str, Any]) -> dict[str, Any]:
    return {"id": opt["id"], "name": opt["name"], "color": opt["color"]}


def property_value(
    name: str,
    prop: dict[str, Any],
    value: Any,
    *,
    create_select_options: bool,
    users: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Validate a page property value against its schema; return the stored (answer) shape.

    May add a select option to `prop` (Notion creates unknown select options on write).
    `users`: the workspace's users by id, whom people properties may name.
    """
    kind = prop["type"]
    path = f"body.properties.{name}"
    if not isinstance(value, dict):
        raise fail(path, "an object", value)
    if kind not in value:
        other = [k for k in value if k in PROPERTY_TYPES]
        if other or not value:
            raise NotionValidationError(f"{name} is expected to be {kind}.")
        raise fail(f"{path}.{kind}", "defined", None)
    raw = value[kind]
    out: Any
    if kind in ("title", "rich_text"):
        out = rich_text(raw, f"{path}.{kind}")
    elif kind in ("url", "email", "phone_number"):
        if raw is not None and not isinstance(raw, str):
            raise fail(f"{path}.{kind}", "a string or `null`", raw)
        if isinstance(raw, str) and len(raw) > MAX_TEXT:
            raise NotionValidationError(
                f"body failed validation: {path}.{kind}.length should be ≤ `{MAX_TEXT}`, "
                f"instead was `{len(raw)}`."
            )
        out = raw or None
    elif kind == "number":
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
            raise fail(f"{path}.number", "a number or `null`", raw)
        out = raw
    elif kind == "checkbox":
        if not isinstance(raw, bool):
            raise fail(f"{path}.checkbox", "a boolean", raw)
        out = raw
    elif kind == "date":
        if raw is not None and (not isinstance(raw, dict) or not isinstance(raw.get("start"), str)):
            raise fail(f"{path}.date.start", "a string", raw)
        out = (
            None
            if raw is None
            else {"start": raw["start"], "end": raw.get("end"), "time_zone": raw.get("time_zone")}
        )
    elif kind in ("select", "status"):
        out = (
            None
            if raw is None
            else _choose(name, prop, raw, f"{path}.{kind}", create_select_options)
        )
    elif kind == "multi_select":
        if not isinstance(raw, list):
            raise fail(f"{path}.multi_select", "an array", raw)
        if len(raw) > MAX_ARRAY:
            raise NotionValidationError(
                f"body failed validation: {path}.multi_select.length should be ≤ "
                f"`{MAX_ARRAY}`, instead was `{len(raw)}`."
            )
        out = [
            _choose(name, prop, item, f"{path}.multi_select[{i}]", create_select_options)
            for i, item in enumerate(raw)
        ]
    elif kind == "people":
        out = people(raw, f"{path}.people", users or {})
    else:  # pragma: no cover - PROPERTY_TYPES is closed
        raise NotionValidationError(f"{name} is expected to be {kind}.")
    return {"id": prop["id"], "type": kind, kind: out}


def people(raw: Any, path: str, users: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A people value ([{"object": "user", "id": …}]) as Notion answers it: the users' objects."""
    array(raw, path)
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        raw_id = item.get("id") if isinstance(item, dict) else None
        user_id = normalize_id(raw_id) if isinstance(raw_id, str) else None
        if user_id is None:
            raise fail(f"{path}[{i}].id", "a valid uuid", raw_id)
        if user_id not in users:
            raise NotionValidationError(f"Could not find user with ID: {user_id}.")
        if all(u["id"] != user_id for u in out):
            out.append(users[user_id])
    return out


def _choose(name: str, prop: dict[str, Any], raw: Any, path: str, create: bool) -> dict[str, Any]:
    kind = prop["type"]
    options = prop[kind]["options"]
    if not isinstance(raw, dict) or not (
        isinstance(raw.get("name"), str) or isinstance(raw.get("id"), str)
    ):
        raise fail(f"{path}.name", "a string", raw)
    if "id" in raw and "name" not in raw:
        for opt in options:
            if opt["id"] == raw["id"]:
                return _option_out(opt)
        raise NotionValidationError(f'Invalid {kind} option id "{raw["id"]}" for {name}.')
    oname = raw["name"].strip()
    for opt in options:
        if opt["name"] == oname:
            return _option_out(opt)
    if kind == "status":
        raise NotionValidationError(
            f'Invalid status option. Status option "{oname}" does not exist for {name}.'
        )
    if "," in oname:
        raise NotionValidationError(f"Invalid select option, commas not allowed: {oname}")
    if len(oname) > 100:
        raise NotionValidationError(
            f"body failed validation: {path}.name.length should be ≤ `100`, "
            f"instead was `{len(oname)}`."
        )
    if not create:
        allowed = ", ".join(o["name"] for o in options)
        raise NotionValidationError(
            f'Invalid select option "{oname}" for {name}. Allowed options: {allowed}.'
        )
    opt = {
        "id": option_id(oname),
        "name": oname,
        "color": SELECT_COLORS[sum(map(ord, oname)) % len(SELECT_COLORS)],
        "description": None,
    }
    options.append(opt)
    return _option_out(opt)


def blocks(value: Any, path: str = "body.children") -> list[dict[str, Any]]:
    """Validate block children (at most 100, text-bearing types) and return their content."""
    array(value, path)
    out = []
    for i, block in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(block, dict):
            raise fail(where, "an object", block)
        kind = block.get("type")
        if kind is None:
            keys = [k for k in block if k in (*TEXT_BLOCKS, "divider")]
            kind = keys[0] if len(keys) == 1 else None
        if kind == "divider":
            out.append({"type": "divider", "divider": {}})
            continue
        if kind not in TEXT_BLOCKS:
            allowed = ", ".join(f"`{t}`" for t in (*TEXT_BLOCKS, "divider"))
            raise fail(f"{where}.type", f"one of {allowed}", kind)
        content = block.get(kind)
        if not isinstance(content, dict):
            raise fail(f"{where}.{kind}", "an object", content)
        body: dict[str, Any] = {
            "rich_text": rich_text(content.get("rich_text"), f"{where}.{kind}.rich_text"),
            "color": content.get("color", "default"),
        }
        if kind == "to_do":
            body["checked"] = bool(content.get("checked", False))
        if kind == "code":
            body["language"] = content.get("language", "plain text")
            body["caption"] = []
        if kind.startswith("heading_"):
            body["is_toggleable"] = False
        if "children" in content:
            raise NotionValidationError(
                f"body failed validation: {where}.{kind}.children is not supported by the sandbox."
            )
        out.append({"type": kind, kind: body})
    return out


UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def normalize_id(raw: str) -> str | None:
    """A Notion id (with or without dashes) in dashed form, or None if it is not one."""
    if not UUID_RE.match(raw):
        return None
    h = raw.replace("-", "").lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
