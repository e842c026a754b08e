"""Test helpers: Figma's OpenAPI spec as a validator, and Notion's recorded answer shapes."""

from __future__ import annotations

import functools
import json
from typing import Any

import httpx
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from figsync_sandbox.fixtures import figma_openapi_spec, notion_cassettes

FIGMA_SPEC = figma_openapi_spec()
SPEC_URI = "urn:figma-openapi"


@functools.cache
def figma_spec() -> dict[str, Any]:
    return yaml.safe_load(FIGMA_SPEC.read_text())


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(figma_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def _validator(pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=_registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def validate_figma_schema(data: Any, schema_name: str) -> None:
    """Validate data against components/schemas/<schema_name> of Figma's spec."""
    _validator(f"/components/schemas/{schema_name}").validate(data)


def validate_figma_response(method: str, path_template: str, response: httpx.Response) -> None:
    """Validate a response against the spec's declared response for (operation, status)."""
    operation = figma_spec()["paths"][path_template][method.lower()]
    declared = operation["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method} {path_template} may not answer {status}: {response.text}"
    ref = declared[status]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    content = figma_spec()["components"]["responses"][name]["content"]
    assert response.headers["content-type"].startswith("application/json")
    assert "application/json" in content
    _validator(f"/components/responses/{name}/content/application~1json/schema").validate(
        response.json()
    )


@functools.cache
def notion_recorded() -> dict[tuple[str, str], list[Any]]:
    """Recorded Notion answers by (method, path kind), e.g. ("POST", "pages")."""
    out: dict[tuple[str, str], list[Any]] = {}
    for path in notion_cassettes():
        for item in yaml.safe_load(path.read_text())["interactions"]:
            uri = item["request"]["uri"].split("api.notion.com/v1/", 1)[1]
            parts = uri.split("/")
            kind = "/".join(p if i % 2 == 0 else "{id}" for i, p in enumerate(parts))
            body = json.loads(item["response"]["body"]["string"])
            out.setdefault((item["request"]["method"], kind), []).append(body)
    return out


def recorded(method: str, kind: str, status: int = 200) -> Any:
    for body in notion_recorded()[(method, kind)]:
        if body.get("status", 200) == status:
            return body
    raise KeyError((method, kind, status))


MAP_FIELDS = {"properties"}


def assert_same_shape(ours: Any, rec: Any, path: str = "$") -> None:
    """Ours has exactly the recorded keys, recursively; maps of properties compare by type."""
    if rec is None or ours is None:
        return
    if isinstance(rec, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        if path.rsplit(".", 1)[-1] in MAP_FIELDS:
            by_type = {v.get("type"): v for v in rec.values() if isinstance(v, dict)}
            for name, value in ours.items():
                kind = value.get("type")
                assert {"id", "type", kind} <= set(value), f"{path}.{name}: {value}"
                if kind in by_type:
                    assert_same_shape(value, by_type[kind], f"{path}.{name}")
            return
        if rec.get("type") != ours.get("type") and "type" in rec and path.endswith("parent"):
            return  # a different kind of parent (data source vs page): different keys
        assert set(ours) == set(rec), (
            f"{path}: keys differ: extra {sorted(set(ours) - set(rec))}, "
            f"missing {sorted(set(rec) - set(ours))}"
        )
        for key in rec:
            assert_same_shape(ours[key], rec[key], f"{path}.{key}")
    elif isinstance(rec, list):
        assert isinstance(ours, list), f"{path}: expected an array, got {ours!r}"
        if rec:
            for i, item in enumerate(ours):
                assert_same_shape(item, rec[0], f"{path}[{i}]")
    elif isinstance(rec, bool):
        assert isinstance(ours, bool), f"{path}: expected a boolean, got {ours!r}"
    elif isinstance(rec, int | float):
        assert isinstance(ours, int | float), f"{path}: expected a number, got {ours!r}"
    elif isinstance(rec, str):
        assert isinstance(ours, str), f"{path}: expected a string, got {ours!r}"
