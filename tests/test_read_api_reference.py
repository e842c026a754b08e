"""docs/read-api.openapi.json is the projector's read API as the code serves it: regenerated
by `make docs`, and this test fails when a route, parameter or model changed without it."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_openapi", ROOT / "tools" / "gen_openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_read_api_reference_is_current():
    generator = _generator()
    committed = (ROOT / "docs" / "read-api.openapi.json").read_text()
    assert committed == generator.render(), (
        "docs/read-api.openapi.json is stale: run `make docs` (tools/gen_openapi.py) and commit it"
    )


def test_the_reference_covers_the_routes_people_use_and_the_guide_links_it():
    import json

    paths = json.loads((ROOT / "docs" / "read-api.openapi.json").read_text())["paths"]
    for path in ("/api/teams/{team}/jobs", "/api/teams/{team}/jobs/{job_id}",
                 "/api/teams/{team}/audit", "/api/teams/{team}/jobs/{job_id}/retry"):  # fmt: skip
        assert path in paths, sorted(paths)
    assert "read-api.openapi.json" in (ROOT / "docs" / "guide.md").read_text()
