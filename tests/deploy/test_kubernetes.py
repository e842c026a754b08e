"""deploy/k8s: every overlay renders, passes `kubernetes-validate --strict` (the CRDs pass
our strict schemas), and keeps the rules a platform team relies on."""

from __future__ import annotations

import json
import re

import pytest

import figsync_deploy_checks as checks
from figsync_contracts.steps import STEP_SERVICES, consumer_name

pytestmark = pytest.mark.unit


def objects(rendered, overlay, kind):
    return checks.by_kind(rendered[overlay], kind)


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_every_rendered_object_is_valid(rendered, kubernetes_validate, overlay):
    problems = [p for doc in rendered[overlay] for p in checks.validate(doc)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_each_process_has_a_service_account_service_deployment_and_pdb(rendered, overlay):
    deployments = objects(rendered, overlay, "Deployment")
    services = objects(rendered, overlay, "Service")
    accounts = objects(rendered, overlay, "ServiceAccount")
    budgets = objects(rendered, overlay, "PodDisruptionBudget")
    for name in [*checks.SERVICES, "relay"]:
        full = f"figsync-{name}"
        assert full in deployments, f"no Deployment {full}"
        pod = deployments[full]["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "figsync"
        assert labels["app.kubernetes.io/component"] == name
        assert checks.selects(deployments[full]["spec"]["selector"]["matchLabels"], labels)
        assert pod["spec"]["serviceAccountName"] == full and full in accounts
        assert checks.selects(services[full]["spec"]["selector"], labels)
        assert checks.selects(budgets[full]["spec"]["selector"]["matchLabels"], labels)
        [container] = pod["spec"]["containers"]
        [port] = container["ports"]
        assert port == {"name": "http", "containerPort": checks.PORTS[name], "protocol": "TCP"}
        env = {e["name"]: e for e in container["env"]}
        assert env["FIGSYNC_HTTP_PORT"]["value"] == str(checks.PORTS[name])
        assert "valueFrom" in env["FIGSYNC_DATABASE_URL"]
        assert {"configMapRef": {"name": "figsync-config"}} in container["envFrom"] or any(
            ref.get("configMapRef", {}).get("name", "").startswith("figsync-config")
            for ref in container["envFrom"]
        )
        assert services[full]["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_probes_use_the_runtime_health_endpoints(rendered, overlay):
    for name, deployment in objects(rendered, overlay, "Deployment").items():
        if name == "figsync-sandbox":
            continue
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert checks.figsync_probe_paths(container) == {
            "startupProbe": "/healthz",
            "livenessProbe": "/healthz",
            "readinessProbe": "/readyz",
        }, name


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_commands_are_the_packages_entry_points(rendered, overlay):
    deployments = objects(rendered, overlay, "Deployment")
    for name in checks.SERVICES:
        [container] = deployments[f"figsync-{name}"]["spec"]["template"]["spec"]["containers"]
        scripts = checks.console_scripts(checks.ROOT / "services" / name)
        assert container["command"] == [f"figsync-{name}"]
        assert f"figsync-{name}" in scripts
        assert container["image"].split("/")[-1].split(":")[0] == f"figsync-{name}"
    [relay] = deployments["figsync-relay"]["spec"]["template"]["spec"]["containers"]
    assert relay["command"] == ["python", "-m", "figsync_runtime.relay_main"]
    relay_main = checks.ROOT / "libs/runtime/src/figsync_runtime/relay_main.py"
    assert relay_main.is_file()
    jobs = objects(rendered, overlay, "Job")
    [migrate] = jobs["figsync-migrate"]["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["figsync", "migrate"]
    assert "figsync" in checks.console_scripts(checks.ROOT / "tools" / "cli")


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_jobs_migrate_once_and_replay_only_when_asked(rendered, overlay):
    jobs = objects(rendered, overlay, "Job")
    assert set(jobs) == {"figsync-migrate", "figsync-replay"}
    assert jobs["figsync-replay"]["spec"]["suspend"] is True
    assert "suspend" not in jobs["figsync-migrate"]["spec"]
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert job["spec"]["ttlSecondsAfterFinished"] > 0


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_no_secret_values_only_references(rendered, overlay):
    secrets = objects(rendered, overlay, "Secret")
    if overlay == "prod":
        assert not secrets, "prod must reference Secrets the platform team creates"
    else:
        # dev generates the sandbox's published fake credentials and nothing else
        [name] = secrets
        assert name.startswith("figsync-secrets")
    for config in objects(rendered, overlay, "ConfigMap").values():
        for key in config.get("data", {}):
            assert not checks.SECRET_NAME.search(key), f"{key} in ConfigMap {config}"


def test_prod_runs_replicated_with_three_stream_replicas(rendered):
    prod = rendered["prod"]
    config = next(
        c for n, c in checks.by_kind(prod, "ConfigMap").items() if n.startswith("figsync-config")
    )
    assert config["data"]["FIGSYNC_STREAM_REPLICAS"] == "3"
    assert config["data"]["FIGSYNC_ENVIRONMENT"] == "production"
    deployments = checks.by_kind(prod, "Deployment")
    assert deployments["figsync-relay"]["spec"]["replicas"] == 2
    assert deployments["figsync-projector"]["spec"]["replicas"] >= 2
    assert (
        checks.by_kind(prod, "HorizontalPodAutoscaler")["figsync-ingest"]["spec"]["minReplicas"]
        >= 2
    )
    for scaled in checks.by_kind(prod, "ScaledObject").values():
        assert scaled["spec"]["minReplicaCount"] >= 2
    for deployment in deployments.values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert re.fullmatch(r"[\w.-]+(/[\w.-]+)+:\d+\.\d+\.\d+", container["image"]), container[
            "image"
        ]


def test_dev_needs_no_credentials_and_uses_the_sandbox(rendered):
    dev = rendered["dev"]
    config = next(
        c for n, c in checks.by_kind(dev, "ConfigMap").items() if n.startswith("figsync-config")
    )
    assert config["data"]["FIGSYNC_ENVIRONMENT"] == "development"
    for api, port in (("FIGMA", 8101), ("NOTION", 8102), ("ANTHROPIC", 8103)):
        assert config["data"][f"FIGSYNC_{api}_API_URL"] == f"http://figsync-sandbox:{port}"
    assert "figsync-sandbox" in checks.by_kind(dev, "Deployment")
    assert "figsync-sandbox" not in checks.by_kind(rendered["prod"], "Deployment")


def test_only_the_relay_runs_more_than_one_fixed_replica_and_autoscaled_ones_have_none(
    rendered,
):
    for overlay in checks.OVERLAYS:
        deployments = objects(rendered, overlay, "Deployment")
        autoscaled = {
            h["spec"]["scaleTargetRef"]["name"]
            for h in objects(rendered, overlay, "HorizontalPodAutoscaler").values()
        } | {
            s["spec"]["scaleTargetRef"]["name"]
            for s in objects(rendered, overlay, "ScaledObject").values()
        }
        for name in autoscaled:
            assert "replicas" not in deployments[name]["spec"], (
                f"{overlay}: {name} fights its autoscaler"
            )
        for name in ("figsync-ingest", *(f"figsync-{c}" for c in checks.CONSUMERS)):
            assert "replicas" not in deployments[name]["spec"]


def test_keda_scales_each_consumer_on_its_durable_consumer_lag(rendered):
    scaled = checks.by_kind(rendered["prod"], "ScaledObject")
    deployments = checks.by_kind(rendered["prod"], "Deployment")
    assert set(scaled) == {f"figsync-{c}" for c in checks.CONSUMERS}
    for step in checks.CONSUMERS:
        spec = scaled[f"figsync-{step}"]["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert spec["scaleTargetRef"]["name"] == f"figsync-{step}"
        assert spec["minReplicaCount"] >= 1, "a consumer also resumes its deferred jobs"
        assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
        # One trigger per step the service runs: a backlog on any of its consumers scales it.
        steps = [s for s, service in STEP_SERVICES.items() if service == step]
        triggers = spec["triggers"]
        assert [t["metadata"]["consumer"] for t in triggers] == [consumer_name(s) for s in steps]
        for trigger in triggers:
            assert trigger["type"] == "nats-jetstream"
            assert trigger["metadata"]["stream"] == checks.STREAM
            assert trigger["metadata"]["natsServerMonitoringEndpoint"].endswith(":8222")
    hpa = checks.by_kind(rendered["prod"], "HorizontalPodAutoscaler")
    assert set(hpa) == {"figsync-ingest"}


def test_service_monitor_scrapes_every_figsync_service(rendered):
    [monitor] = checks.by_kind(rendered["prod"], "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    for name, service in checks.by_kind(rendered["prod"], "Service").items():
        assert checks.selects(selector, service["metadata"]["labels"]), name
        assert ports & {p["name"] for p in service["spec"]["ports"]}, name


def test_grafana_dashboard_is_a_configmap_and_charts_metrics_that_exist(rendered):
    dashboards = checks.by_kind(rendered["prod"], "ConfigMap")
    config = dashboards["figsync-grafana-dashboard"]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["figsync.json"])
    assert dashboard["uid"] and dashboard["panels"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m.removesuffix(s) for e in exprs for m in re.findall(r"figsync_\w+", e) for s in ("",)}
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for m in used}
    defined = set()
    for source in checks.ROOT.glob("libs/*/src/**/*.py"):
        defined |= set(re.findall(r'"(figsync_\w+)"', source.read_text()))
    for source in checks.ROOT.glob("services/*/src/**/*.py"):
        defined |= set(re.findall(r'"(figsync_\w+)"', source.read_text()))
    # prometheus_client exposes a Counter "x" as x_total
    defined |= {f"{name}_total" for name in defined}
    assert used <= defined, f"dashboard charts metrics nobody exports: {used - defined}"


def test_network_policies_deny_by_default_then_allow_what_each_process_needs(rendered):
    policies = checks.by_kind(rendered["prod"], "NetworkPolicy")
    deny = policies["figsync-default-deny"]["spec"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "figsync"}}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    def allowed_egress_ports(component):
        labels = {"app.kubernetes.io/part-of": "figsync", "app.kubernetes.io/component": component}
        ports = set()
        for policy in policies.values():
            if "Egress" in policy["spec"]["policyTypes"] and matches(
                policy["spec"]["podSelector"], labels
            ):
                for rule in policy["spec"].get("egress", []):
                    ports |= {p["port"] for p in rule.get("ports", [])}
        return ports

    for step in checks.CONSUMERS:
        assert {53, 5432, 4222, 443} <= allowed_egress_ports(step), step
    for component in ("ingest", "projector", "relay"):
        assert {53, 5432, 4222} <= allowed_egress_ports(component)
        assert 443 not in allowed_egress_ports(component), component
    assert 4222 not in allowed_egress_ports("migrate")
    assert 5432 in allowed_egress_ports("migrate")


def matches(selector, labels):
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = labels.get(expr["key"])
        if expr["operator"] == "In" and present not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and present in expr["values"]:
            return False
    return True


# ------------------------------------------------------------------ the checks catch breakage


def first(rendered, kind, name="figsync-ingest"):
    return checks.deep_copy(checks.by_kind(rendered["prod"], kind)[name])


def container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


def test_a_misspelled_field_is_rejected(rendered, kubernetes_validate):
    deployment = first(rendered, "Deployment")
    container(deployment)["resorces"] = container(deployment).pop("resources")
    problems = checks.validate(deployment)
    assert any("'resorces' was unexpected" in p for p in problems), problems


def test_a_misspelled_field_in_a_nested_object_is_rejected(rendered, kubernetes_validate):
    deployment = first(rendered, "Deployment")
    container(deployment)["readinessProbe"]["httpget"] = container(deployment)[
        "readinessProbe"
    ].pop("httpGet")
    assert any("'httpget' was unexpected" in p for p in checks.validate(deployment))


@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
def test_a_missing_probe_is_rejected(rendered, kubernetes_validate, probe):
    deployment = first(rendered, "Deployment")
    del container(deployment)[probe]
    assert f"Deployment/figsync-ingest container ingest: no {probe}" in checks.validate(deployment)


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("pod", {"runAsUser": 0}),
        ("container", {"runAsUser": 0}),
        ("pod", {"runAsNonRoot": False}),
        ("container", {"runAsNonRoot": False}),
    ],
)
def test_a_container_running_as_root_is_rejected(rendered, kubernetes_validate, where, change):
    deployment = first(rendered, "Deployment")
    target = (
        deployment["spec"]["template"]["spec"]["securityContext"]
        if where == "pod"
        else container(deployment)["securityContext"]
    )
    target.update(change)
    problems = checks.validate(deployment)
    assert any("root" in p or "runAsNonRoot" in p for p in problems), problems


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("readOnlyRootFilesystem", False, "readOnlyRootFilesystem is not true"),
        ("allowPrivilegeEscalation", True, "allowPrivilegeEscalation is not false"),
        ("capabilities", {"drop": ["NET_RAW"]}, "capabilities do not drop ALL"),
    ],
)
def test_a_weaker_security_context_is_rejected(rendered, field, value, message):
    deployment = first(rendered, "Deployment")
    container(deployment)["securityContext"][field] = value
    assert any(message in p for p in checks.workload_policy(deployment))


def test_missing_limits_seccomp_or_tmp_and_inline_secrets_are_rejected(rendered):
    deployment = first(rendered, "Deployment")
    del container(deployment)["resources"]["limits"]
    del deployment["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
    deployment["spec"]["template"]["spec"]["volumes"] = []
    container(deployment)["env"].append({"name": "FIGMA_API_TOKEN", "value": "figd_x"})
    problems = "\n".join(checks.workload_policy(deployment))
    for expected in ("no memory limits", "seccompProfile", "/tmp", "FIGMA_API_TOKEN"):
        assert expected in problems


def test_a_misspelled_or_incomplete_scaled_object_is_rejected(rendered):
    scaled = first(rendered, "ScaledObject", "figsync-figma")
    scaled["spec"]["minReplicaCont"] = scaled["spec"].pop("minReplicaCount")
    assert any("'minReplicaCont' was unexpected" in p for p in checks.validate(scaled))
    scaled = first(rendered, "ScaledObject", "figsync-figma")
    del scaled["spec"]["triggers"][0]["metadata"]["consumer"]
    assert any("'consumer' is a required property" in p for p in checks.validate(scaled))
    scaled = first(rendered, "ScaledObject", "figsync-figma")
    del scaled["spec"]["scaleTargetRef"]
    assert any("'scaleTargetRef' is a required" in p for p in checks.validate(scaled))


def test_a_misspelled_service_monitor_is_rejected(rendered):
    monitor = first(rendered, "ServiceMonitor", "figsync")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    assert any("'intervall' was unexpected" in p for p in checks.validate(monitor))
    monitor = first(rendered, "ServiceMonitor", "figsync")
    del monitor["spec"]["selector"]
    assert any("'selector' is a required" in p for p in checks.validate(monitor))


def test_a_broken_kustomization_fails_to_render(tmp_path, rendered):
    overlay = tmp_path / "broken"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"resources:\n- {checks.K8S / 'base'}\npatches:\n- path: missing.yaml\n"
    )
    with pytest.raises(AssertionError, match="failed"):
        checks.render(overlay)


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_the_migrate_job_can_be_applied_alone_first(rendered, overlay):
    """deploy/README.md applies `-l 'app.kubernetes.io/component in (jobs,migrate)'` and waits
    for the Job before the rest: everything it needs must be in that subset or external."""
    subset = [
        d
        for d in rendered[overlay]
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("jobs", "migrate")
    ]
    [job] = checks.by_kind(subset, "Job").values()
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] in checks.by_kind(subset, "ServiceAccount")
    [container] = pod["containers"]
    configmaps = {
        r["configMapRef"]["name"] for r in container.get("envFrom", []) if "configMapRef" in r
    }
    secrets = {r["secretRef"]["name"] for r in container.get("envFrom", []) if "secretRef" in r}
    for env in container.get("env", []):
        ref = env.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            configmaps.add(ref["configMapKeyRef"]["name"])
        if "secretKeyRef" in ref:
            secrets.add(ref["secretKeyRef"]["name"])
    assert configmaps <= set(checks.by_kind(subset, "ConfigMap"))
    assert secrets <= {"figsync-db-app"}, "made by CloudNativePG before figsync is applied"
