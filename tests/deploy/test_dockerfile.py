"""The Dockerfile: one slim, non-root image per process, built through install stages."""

from __future__ import annotations

import pytest

import figsync_deploy_checks as checks

pytestmark = pytest.mark.unit

DOCKERFILE = (checks.ROOT / "Dockerfile").read_text()
TARGETS = ("service", "relay", "cli", "sandbox")


def test_every_image_target_is_non_root_and_pinned():
    assert checks.dockerfile_policy(DOCKERFILE, TARGETS) == []


def test_an_image_running_as_root_is_rejected():
    broken = DOCKERFILE.replace("USER 10001:10001", "USER root")
    problems = checks.dockerfile_policy(broken, TARGETS)
    assert len(problems) == len(TARGETS)
    assert all("is not a numeric non-root uid" in p for p in problems)
    no_user = DOCKERFILE.replace("USER 10001:10001\n", "")
    assert len(checks.dockerfile_policy(no_user, TARGETS)) == len(TARGETS)


def test_an_unpinned_base_image_is_rejected():
    broken = DOCKERFILE.replace(
        "ARG PYTHON_IMAGE=python:3.11-slim-bookworm", "ARG PYTHON_IMAGE=python:latest"
    )
    assert any("not pinned" in p for p in checks.dockerfile_policy(broken, TARGETS))


def test_the_service_target_installs_the_chosen_service_and_runs_its_entry_point():
    _, stages = checks.parse_dockerfile(DOCKERFILE)
    build = stages["build-service"]
    assert "SERVICE" in build.args
    installs = [r for r in build.runs if "uv pip install" in r]
    assert len(installs) == 1 and "./services/${SERVICE}" in installs[0]
    assert "-c constraints.txt" in installs[0] and "-c local-packages.txt" in installs[0]
    on_disk = sorted(p.parent.name for p in checks.ROOT.glob("services/*/pyproject.toml"))
    assert set(checks.SERVICES) <= set(on_disk)
    for service in on_disk:
        scripts = checks.console_scripts(checks.ROOT / "services" / service)
        # the image runs figsync-service -> figsync-${SERVICE}
        assert f"figsync-{service}" in scripts, service
    assert stages["service"].cmd == ["figsync-service"]


def test_the_uv_pin_matches_the_constraints():
    args, stages = checks.parse_dockerfile(DOCKERFILE)
    pinned = stages["builder"].args["UV_VERSION"]
    constraint = checks.constraints_pins().get("uv")
    if constraint is None:
        pytest.skip("uv is not in constraints.txt yet")
    assert pinned == constraint, "bump ARG UV_VERSION in the Dockerfile with constraints.txt"


def test_dockerignore_sends_only_what_the_images_copy():
    ignore = (checks.ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**") + 1 :][:4] == [
        "!constraints.txt",
        "!libs/",
        "!services/",
        "!tools/",
    ]
    _, stages = checks.parse_dockerfile(DOCKERFILE)
    roots = {
        source.split("/")[0]
        for stage in stages.values()
        for origin, sources, _ in stage.copies
        if origin is None
        for source in sources
    }
    assert roots == {"constraints.txt", "libs", "services", "tools"}
