"""docker-compose.yml: valid against the compose-spec schema (check-jsonschema's vendored
copy) and wired the way the issue asks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import figsync_deploy_checks as checks

pytestmark = pytest.mark.unit

COMPOSE = checks.ROOT / "docker-compose.yml"
FIGSYNC = {"relay", *checks.SERVICES}


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(executable).exists():
        pytest.skip("check-jsonschema is not installed (add it to requirements-dev.txt)")
    return subprocess.run(
        [executable, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_spec():
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelled_compose_key_is_rejected(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    healthchek:\n", 1))
    result = check_jsonschema(broken)
    assert result.returncode != 0
    assert "'healthchek' was unexpected" in result.stdout


def test_infrastructure_nats_with_jetstream_and_monitoring_postgres_and_jaeger(compose):
    services = compose["services"]
    nats = services["nats"]
    assert "--jetstream" in nats["command"] and "--http_port" in nats["command"]
    assert any(p.endswith(":8222") for p in nats["ports"])
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image!r}"


def test_migrations_gate_every_figsync_process(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["build"]["target"] == "cli" and migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    for name in FIGSYNC:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["nats"]["condition"] == "service_healthy", name
        assert depends["postgres"]["condition"] == "service_healthy", name


def test_every_long_running_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        if name in ("migrate", "jaeger"):
            continue
        assert "healthcheck" in service, name
    for name in FIGSYNC:
        port = str(checks.PORTS[name])
        environment = compose["services"][name]["environment"]
        assert environment["FIGSYNC_HTTP_PORT"] == port
        assert environment["FIGSYNC_HTTP_HOST"] == "0.0.0.0"
        assert f"127.0.0.1:{port}/readyz" in " ".join(
            compose["services"][name]["healthcheck"]["test"]
        )


def test_figsync_containers_run_unprivileged_from_this_dockerfile(compose):
    _, stages = checks.parse_dockerfile((checks.ROOT / "Dockerfile").read_text())
    for name in [*FIGSYNC, "migrate", "sandbox"]:
        service = compose["services"][name]
        assert service["user"] == "10001:10001" and service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"] and "/tmp" in service["tmpfs"], name
        build = service["build"]
        assert build["context"] == "." and build["target"] in stages, name
        if build["target"] == "service":
            assert build["args"]["SERVICE"] == name
            assert (checks.ROOT / "services" / name / "pyproject.toml").is_file()
        environment = service.get("environment", {})
        if "OTEL_EXPORTER_OTLP_ENDPOINT" in environment:
            assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"


def test_the_sandbox_is_a_profile_and_the_default_apis_point_at_it(compose):
    sandbox = compose["services"]["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert all("profiles" not in s for n, s in compose["services"].items() if n != "sandbox")
    environment = compose["services"]["figma"]["environment"]
    assert environment["FIGSYNC_FIGMA_API_URL"].endswith("http://sandbox:8101}")
    assert environment["FIGSYNC_NOTION_API_URL"].endswith("http://sandbox:8102}")
    assert environment["FIGSYNC_ANTHROPIC_API_URL"].endswith("http://sandbox:8103}")
