"""Rollouts keep capacity and can be undone (docs/runbook.md, "Rollout and rollback"): every
Deployment surges one new pod before taking an old one away, waits until it has stayed ready,
and reports a stuck rollout within minutes; the canary component renders, validates and runs
the stable pod spec with only its image changed."""

from __future__ import annotations

import os

import pytest

import figsync_deploy_checks as checks

pytestmark = pytest.mark.unit

CANARY = checks.K8S / "components" / "canary"


def assert_rolls_without_losing_capacity(name: str, deployment: dict) -> None:
    spec = deployment["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }, name
    assert 5 <= spec["minReadySeconds"] <= 30, name
    # A stuck rollout shows (Progressing=False) in time to undo it within five minutes.
    assert 60 <= spec["progressDeadlineSeconds"] <= 240, name
    assert spec["revisionHistoryLimit"] >= 3, f"{name}: keep revisions to roll back to"


@pytest.mark.parametrize("overlay", checks.OVERLAYS)
def test_every_deployment_rolls_out_without_losing_capacity(rendered, overlay):
    deployments = checks.by_kind(rendered[overlay], "Deployment")
    assert deployments
    for name, deployment in deployments.items():
        assert_rolls_without_losing_capacity(name, deployment)


def test_a_deployment_that_may_drop_a_pod_is_caught(rendered):
    deployment = checks.deep_copy(checks.by_kind(rendered["prod"], "Deployment")["figsync-figma"])
    deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1
    with pytest.raises(AssertionError):
        assert_rolls_without_losing_capacity("figsync-figma", deployment)


@pytest.fixture(scope="module")
def canary(tmp_path_factory, rendered) -> list[dict]:
    """prod plus the canary component, the way deploy/README.md and the runbook use it."""
    overlay = tmp_path_factory.mktemp("canary")
    prod = os.path.relpath(checks.K8S / "overlays" / "prod", overlay)
    component = os.path.relpath(CANARY, overlay)
    images = "".join(
        f"- name: figsync-{c}-canary\n  newName: ghcr.io/your-org/figsync-{c}\n  newTag: 0.2.0\n"
        for c in checks.CONSUMERS
    )
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: figsync\n"
        f"resources:\n- {prod}\ncomponents:\n- {component}\nimages:\n{images}"
    )
    return checks.render(overlay)


def test_the_canary_renders_and_validates(canary, kubernetes_validate):
    problems = [p for doc in canary for p in checks.validate(doc)]
    assert not problems, "\n".join(problems)


def test_each_consumer_gets_one_canary_running_the_stable_pod_spec_with_the_new_image(
    canary, rendered
):
    deployments = checks.by_kind(canary, "Deployment")
    services = checks.by_kind(canary, "Service")
    [monitor] = checks.by_kind(canary, "ServiceMonitor").values()
    for step in checks.CONSUMERS:
        stable, candidate = deployments[f"figsync-{step}"], deployments[f"figsync-{step}-canary"]
        assert stable == checks.by_kind(rendered["prod"], "Deployment")[f"figsync-{step}"]
        assert candidate["spec"]["replicas"] == 1
        assert_rolls_without_losing_capacity(f"figsync-{step}-canary", candidate)
        pod = candidate["spec"]["template"]
        [new] = pod["spec"]["containers"]
        assert new["image"] == f"ghcr.io/your-org/figsync-{step}:0.2.0"
        expected = checks.deep_copy(stable["spec"]["template"]["spec"])
        expected["containers"][0]["image"] = new["image"]
        assert pod["spec"] == expected, "the canary drifted from the stable pod spec"
        # Its own pods: the stable Deployment, Service and PDB do not select them …
        labels = pod["metadata"]["labels"]
        assert not checks.selects(stable["spec"]["selector"]["matchLabels"], labels)
        assert not checks.selects(services[f"figsync-{step}"]["spec"]["selector"], labels)
        # … but the network policies (by component) and scraping (its own Service) do.
        assert labels["app.kubernetes.io/component"] == step
        own = services[f"figsync-{step}-canary"]
        assert checks.selects(own["spec"]["selector"], labels)
        assert checks.selects(monitor["spec"]["selector"]["matchLabels"], own["metadata"]["labels"])
    assert "figsync-relay-canary" not in deployments and "figsync-ingest-canary" not in deployments
