"""JSON Schemas of the events: generated from the models, committed, and checked for breaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from figsync_contracts.envelope import Envelope
from figsync_contracts.events import EVENT_TYPES

SCHEMA_DIR = Path(__file__).parent / "schemas"
PUBLISHED_DIR = SCHEMA_DIR / "published"


def generated_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for every event type and the envelope."""
    schemas = {f"{t}.json": cls.model_json_schema() for t, cls in EVENT_TYPES.items()}
    schemas["envelope.json"] = Envelope.model_json_schema()
    return schemas


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write the current schemas; freeze each newly published version. Returns files changed."""
    changed = []
    directory.mkdir(parents=True, exist_ok=True)
    published = directory / "published"
    published.mkdir(exist_ok=True)
    for name, schema in generated_schemas().items():
        text = render(schema)
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
        frozen = published / name
        if not frozen.exists():
            frozen.write_text(text)
            changed.append(f"published/{name}")
    return changed


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What a consumer of `old` data would trip over in `new`: removed fields, new required
    fields, changed types, narrowed enums. Empty when `new` is a compatible evolution."""
    problems: list[str] = []
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    problems += _compare(old, new, old_defs, new_defs, path or "$")
    return problems


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return defs.get(ref.removeprefix("#/$defs/"), {})
    return node


def _types(node: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    node = _resolve(node, defs)
    if "anyOf" in node:
        out: set[str] = set()
        for option in node["anyOf"]:
            out |= _types(option, defs)
        return out
    if "const" in node:
        return {f"const:{node['const']}"}
    if "enum" in node:
        return {f"const:{v}" for v in node["enum"]}
    kind = node.get("type")
    if isinstance(kind, list):
        return set(kind)
    return {kind} if kind else {"any"}


def _compare(old: Any, new: Any, old_defs: dict, new_defs: dict, path: str) -> list[str]:
    problems: list[str] = []
    old, new = _resolve(old, old_defs), _resolve(new, new_defs)
    old_types, new_types = _types(old, old_defs), _types(new, new_defs)
    if "any" not in new_types and not old_types <= new_types:
        lost = sorted(old_types - new_types)
        problems.append(f"{path}: no longer accepts {', '.join(lost)}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed")
        else:
            problems += _compare(
                old_props[name], new_props[name], old_defs, new_defs, f"{path}.{name}"
            )
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}.{name}: newly required")
    if "items" in old and "items" in new:
        problems += _compare(old["items"], new["items"], old_defs, new_defs, f"{path}[]")
    return problems
