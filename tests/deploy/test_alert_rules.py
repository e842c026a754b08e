"""The alerting rules (components/monitoring/prometheusrule.yaml): promtool accepts them and
their unit tests pass, every alert is tested both firing and quiet, every alert links a
section of docs/runbook.md that exists, and the runbook has no section for an alert that is
gone. The rules use only metrics figsync exports (or the NATS exporter's)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

import figsync_deploy_checks as checks

pytestmark = pytest.mark.unit

RULES = checks.K8S / "components" / "monitoring" / "prometheusrule.yaml"
TESTS = Path(__file__).parent / "alerts"
RUNBOOK = checks.ROOT / "docs" / "runbook.md"
# The section of the runbook that holds one `### <AlertName>` section per alert.
ALERTS_SECTION = "## Alerts"


def rule_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["spec"]["groups"]


def alerts() -> dict[str, dict]:
    return {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_headings() -> list[tuple[int, str]]:
    found = []
    for line in RUNBOOK.read_text().splitlines():
        if match := re.match(r"^(#{1,6})\s+(.*?)\s*$", line):
            found.append((len(match[1]), match[2]))
    return found


def alert_sections() -> set[str]:
    """The `###` headings under the runbook's `## Alerts`."""
    sections, inside = set(), False
    for level, text in runbook_headings():
        if level == 2:
            inside = text == ALERTS_SECTION.removeprefix("## ")
        elif level == 3 and inside:
            sections.add(text)
    return sections


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)"
        )
    return found


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The rule groups as a plain Prometheus rules file, beside copies of the unit tests."""
    (tmp_path / "figsync.rules.yaml").write_text(
        yaml.safe_dump({"groups": rule_groups()}, sort_keys=False)
    )
    for test in TESTS.glob("*_test.yaml"):
        shutil.copy(test, tmp_path / test.name)
    return tmp_path


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_promtool_accepts_the_rules(promtool, rules_dir):
    result = run([promtool, "check", "rules", "figsync.rules.yaml"], rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in result.stdout


def test_the_rules_unit_tests_pass(promtool, rules_dir):
    tests = sorted(p.name for p in rules_dir.glob("*_test.yaml"))
    assert tests
    result = run([promtool, "test", "rules", *tests], rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_catches_a_broken_rule_and_a_wrong_expectation(promtool, rules_dir):
    groups = rule_groups()
    groups[0]["rules"][0]["expr"] = "sum(rate(figsync_jobs_finished_total[15m]) > "
    (rules_dir / "figsync.rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    assert run([promtool, "check", "rules", "figsync.rules.yaml"], rules_dir).returncode != 0

    groups = rule_groups()
    relay_lag = next(
        r for g in groups for r in g["rules"] if r.get("alert") == "FigsyncRelayLagHigh"
    )
    relay_lag["expr"] = "max(figsync_relay_lag_events) > 1000"  # would miss the tested lag
    (rules_dir / "figsync.rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    result = run([promtool, "test", "rules", "figsync_test.yaml"], rules_dir)
    assert result.returncode != 0 and "FigsyncRelayLagHigh" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet():
    firing, quiet = set(), set()
    for path in TESTS.glob("*_test.yaml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert set(alerts()) - firing == set(), "alerts never tested firing"
    assert set(alerts()) - quiet == set(), "alerts never tested staying quiet"


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section_that_exists():
    anchors = {anchor(text) for _, text in runbook_headings()}
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), name
        assert rule["annotations"]["summary"], name
        url = urlparse(rule["annotations"]["runbook_url"])
        assert url.scheme == "https" and url.path.endswith("/docs/runbook.md"), name
        assert url.fragment == anchor(name), f"{name} links #{url.fragment}"
        assert url.fragment in anchors, f"docs/runbook.md has no heading for #{url.fragment}"


def test_every_runbook_alert_section_matches_an_alert():
    sections = alert_sections()
    assert sections, f"docs/runbook.md has no {ALERTS_SECTION!r} with ### sections"
    assert sections == set(alerts()), (
        f"stale runbook sections: {sections - set(alerts())}; "
        f"alerts without a section: {set(alerts()) - sections}"
    )


def test_the_runbook_names_only_commands_the_cli_has():
    text = RUNBOOK.read_text()
    used = set(re.findall(r"`figsync ([a-z-]+)", text))
    main = (checks.ROOT / "tools/cli/src/figsync_cli/main.py").read_text()
    projector = (checks.ROOT / "services/projector/src/figsync_projector/cli.py").read_text()
    jobs = (checks.ROOT / "tools/cli/src/figsync_cli/jobs.py").read_text()
    defined = set(re.findall(r'add_parser\(\s*"([a-z-]+)"', main + projector + jobs))
    assert used and used <= defined, f"the runbook names commands nobody defines: {used - defined}"


def test_the_rules_use_only_metrics_that_are_exported():
    exprs = [r["expr"] for g in rule_groups() for r in g["rules"]]
    used = {m for e in exprs for m in re.findall(r"\b(figsync_\w+)", e)}
    used = {re.sub(r"_bucket$", "", m) for m in used}
    defined = set()
    for pattern in ("libs/*/src/**/*.py", "services/*/src/**/*.py"):
        for source in checks.ROOT.glob(pattern):
            defined |= set(re.findall(r'"(figsync_\w+)"', source.read_text()))
    defined |= {f"{name}_total" for name in defined}
    assert used and used <= defined, f"rules use metrics nobody exports: {used - defined}"
    nats = {m for e in exprs for m in re.findall(r"\b(nats_\w+)", e)}
    # prometheus-nats-exporter -jsz=all -prefix=nats (the NATS Helm chart's promExporter)
    assert nats <= {
        "nats_consumer_num_pending",
        "nats_consumer_num_ack_pending",
        "nats_consumer_ack_floor_stream_seq",
    }


def test_prod_renders_the_prometheus_rule_and_it_validates(rendered):
    [rule] = checks.by_kind(rendered["prod"], "PrometheusRule").values()
    assert checks.validate(rule) == []
    assert rule["spec"]["groups"] == rule_groups()
    broken = checks.deep_copy(rule)
    broken["spec"]["groups"][0]["rules"][0]["fro"] = "5m"
    assert any("'fro' was unexpected" in p for p in checks.validate(broken))
