"""Where a team's tasks go: named Notion targets (a database and its field mapping each) and
ordered routes (by Figma file, by the summary's category, by priority); the first route that
matches wins, and the team's own notion_database_id / notion_field_mapping take the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from figsync_contracts.events import Category, Priority

DEFAULT_TARGET = "default"
MAX_NOTION_TARGETS = 10
MAX_NOTION_ROUTES = 50
MAX_ROUTE_FILES = 200
MAX_MAPPING_ENTRIES = 50

_FIGMA_URL = re.compile(r"figma\.com/(?:file|design|board|proto|slides)/([A-Za-z0-9_-]+)")
_FILE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_NOTION_ID = re.compile(r"([0-9a-fA-F]{32})(?:[?#].*)?$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MappingText = Annotated[str, Field(max_length=200)]


def file_key_of(value: str) -> str:
    """A Figma file key from a key or a file URL."""
    value = value.strip()
    found = _FIGMA_URL.search(value)
    key = found.group(1) if found else value
    if not _FILE_KEY.match(key):
        raise ValueError(f"{value[:80]!r} is neither a Figma file key nor a Figma file URL")
    return key


def notion_id_of(value: str) -> str:
    """A Notion database id (dashed) from an id, with or without dashes, or a database URL."""
    compact = value.strip().replace("-", "")
    found = _NOTION_ID.search(compact)
    if not found:
        raise ValueError(
            f"{value[:80]!r} is not a Notion database id or URL (32 hex digits; copy the "
            "database's link in Notion)"
        )
    h = found.group(1).lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def field_mapping_of(value: dict[str, str]) -> dict[str, str]:
    """A field mapping (Notion property → task field; "" drops a default) trimmed and checked."""
    for prop, task_field in value.items():
        if not prop.strip() or _CONTROL.search(prop + task_field):
            raise ValueError(f"bad mapping entry {prop[:40]!r} → {task_field[:40]!r}")
    return {k.strip(): v.strip() for k, v in value.items()}


class NotionTarget(BaseModel):
    """A named place for tasks: a Notion database (or data source) and the field mapping there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="unique in the team; letters, digits, space . _ -; ≤ 40")
    database_id: str = Field(description="the database's (or data source's) id or link")
    field_mapping: Annotated[dict[MappingText, MappingText], Field(max_length=50)] = Field(
        default_factory=dict
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not _TARGET_NAME.match(value):
            raise ValueError(
                f"{value[:50]!r} is not a target name (1-40 letters, digits, spaces, . _ -)"
            )
        if value.casefold() == DEFAULT_TARGET:
            raise ValueError(
                f'"{DEFAULT_TARGET}" is the team\'s own notion_database_id and mapping; name '
                "the target otherwise"
            )
        return value

    @field_validator("database_id")
    @classmethod
    def _database(cls, value: str) -> str:
        return notion_id_of(value)

    @field_validator("field_mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str]) -> dict[str, str]:
        return field_mapping_of(value)


CATEGORIES: tuple[str, ...] = get_args(Category)
PRIORITIES: tuple[str, ...] = get_args(Priority)


class NotionRoute(BaseModel):
    """A rule: tasks that match every condition given go to `target`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(max_length=40, description='a target\'s name, or "default"')
    file_keys: Annotated[list[str], Field(max_length=MAX_ROUTE_FILES)] = Field(
        default_factory=list, description="Figma file keys or URLs; empty: any file"
    )
    categories: list[Category] = Field(
        default_factory=list, max_length=len(CATEGORIES), description="empty: any category"
    )
    priorities: list[Priority] = Field(
        default_factory=list, max_length=len(PRIORITIES), description="empty: any priority"
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return value.strip()

    @field_validator("file_keys")
    @classmethod
    def _files(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(file_key_of(v) for v in value if v.strip()))

    @field_validator("categories", "priorities")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _some_condition(self) -> NotionRoute:
        if not (self.file_keys or self.categories or self.priorities):
            raise ValueError(
                f"the route to {self.target!r} has no condition (file_keys, categories or "
                "priorities); the team's default target takes every task no route matches"
            )
        return self

    def matches(self, file_key: str, category: str, priority: str) -> bool:
        return (
            (not self.file_keys or file_key in self.file_keys)
            and (not self.categories or category in self.categories)
            and (not self.priorities or priority in self.priorities)
        )

    def describe(self, number: int) -> str:
        """`route 2 (file ABC, category design)`: which rule sent a task where."""
        parts = [
            f"{label} {' or '.join(values)}"
            for label, values in (
                ("file", self.file_keys[:3] + (["…"] if len(self.file_keys) > 3 else [])),
                ("category", self.categories),
                ("priority", self.priorities),
            )
            if values
        ]
        return f"route {number} ({', '.join(parts)})"


def check_routing(targets: list[NotionTarget], routes: list[NotionRoute]) -> None:
    """Target names and databases unique; every route names a target that exists."""
    names: dict[str, str] = {}
    databases: dict[str, str] = {}
    for target in targets:
        key = target.name.casefold()
        if key in names:
            raise ValueError(f"two targets are named {target.name!r}; names are unique")
        if target.database_id in databases:
            raise ValueError(
                f"targets {databases[target.database_id]!r} and {target.name!r} both name the "
                f"database {target.database_id}; use one target per database"
            )
        names[key], databases[target.database_id] = target.name, target.name
    for number, rule in enumerate(routes, 1):
        if rule.target.casefold() != DEFAULT_TARGET and rule.target.casefold() not in names:
            known = ", ".join([DEFAULT_TARGET, *names.values()])
            raise ValueError(
                f"route {number} sends tasks to {rule.target!r}, which is not a target "
                f"(targets: {known})"
            )


@dataclass(frozen=True)
class Routed:
    """Where one task goes, and which rule said so."""

    target: str
    database_id: str | None
    field_mapping: dict[str, str] = field(default_factory=dict)
    rule: str = "default"


def target_named(
    name: str, targets: list[NotionTarget], database_id: str | None, mapping: dict[str, str]
) -> Routed | None:
    """The target called `name` ("default": the team's own database and mapping), or None."""
    if name.casefold() == DEFAULT_TARGET:
        return Routed(DEFAULT_TARGET, database_id, dict(mapping))
    found = next((t for t in targets if t.name.casefold() == name.casefold()), None)
    return Routed(found.name, found.database_id, dict(found.field_mapping)) if found else None


def route(
    targets: list[NotionTarget],
    routes: list[NotionRoute],
    default_database_id: str | None,
    default_mapping: dict[str, str],
    *,
    file_key: str,
    category: str,
    priority: str,
) -> Routed:
    """The first route that matches the task decides its target; none: the default."""
    for number, rule in enumerate(routes, 1):
        if rule.matches(file_key, category, priority):
            found = target_named(rule.target, targets, default_database_id, default_mapping)
            if found is not None:
                return Routed(found.target, found.database_id, found.field_mapping,
                              rule.describe(number))  # fmt: skip
    return Routed(DEFAULT_TARGET, default_database_id, dict(default_mapping), "no route matched")
