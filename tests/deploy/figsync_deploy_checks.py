"""What the deploy tests check, as functions that return the problems they find, so that the
tests can also prove each check rejects a broken manifest."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# Oldest Kubernetes minor the manifests support, and the newest schema the validator ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SERVICES = ("ingest", "projector", "figma", "summarizer", "notion", "notifier")
CONSUMERS = ("figma", "summarizer", "notion", "notifier")
PORTS = {
    "ingest": 8000,
    "projector": 8001,
    "figma": 8011,
    "summarizer": 8012,
    "notion": 8013,
    "notifier": 8014,
    "relay": 8015,
}
STREAM = "FIGSYNC"
SECRET_NAME = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|PASSCODE|DATABASE_URL)$")


# ----------------------------------------------------------------------------- kustomize


def kustomize_command() -> list[str] | None:
    """`kubectl kustomize` (kubectl embeds kustomize), else a standalone `kustomize build`;
    None when neither is there or the kustomize is older than v4 (no components)."""
    import json

    if shutil.which("kubectl"):
        result = subprocess.run(
            ["kubectl", "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        try:
            version = json.loads(result.stdout).get("kustomizeVersion", "")
        except json.JSONDecodeError:
            version = ""
        if re.match(r"v([4-9]|\d\d)\.", version):
            return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def render(path: Path) -> list[dict[str, Any]]:
    import yaml

    command = kustomize_command()
    assert command, "no kustomize: install kubectl or kustomize"
    result = subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)} {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


# ----------------------------------------------------------------------------- validation

CRD_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def validate_builtin(doc: dict[str, Any], version: str) -> list[str]:
    """kubernetes-validate --strict for the built-in kinds (unknown fields are errors)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        return [f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}"]
    return []


_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "labels": _LABELS, "annotations": _LABELS},
}

# The parts of the CRDs figsync uses (KEDA 2.x ScaledObject, Prometheus Operator
# ServiceMonitor), strict like kubernetes-validate: an unknown or misspelled field fails.
SCALED_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string", "minLength": 1},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {"type": "object"},
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "useCachedMetrics": {"type": "boolean"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "authenticationRef": {"type": "object"},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}

# KEDA's nats-jetstream trigger: required and optional metadata, all strings.
NATS_JETSTREAM_METADATA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"],
    "properties": {
        "natsServerMonitoringEndpoint": {"type": "string", "pattern": r"^[a-z0-9.-]+:\d+$"},
        "account": {"type": "string", "minLength": 1},
        "stream": {"type": "string", "minLength": 1},
        "consumer": {"type": "string", "minLength": 1},
        "lagThreshold": {"type": "string", "pattern": r"^[1-9]\d*$"},
        "activationLagThreshold": {"type": "string", "pattern": r"^\d+$"},
        "useHttps": {"enum": ["true", "false"]},
    },
}

SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "targetLabels": {"type": "array", "items": {"type": "string"}},
                "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                "namespaceSelector": {"type": "object"},
                "sampleLimit": {"type": "integer"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": {
                        "matchLabels": _LABELS,
                        "matchExpressions": {"type": "array"},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                            "scrapeTimeout": {"type": "string", "pattern": r"^\d+[smh]$"},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}


_DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d|w|y))+$"}
# Prometheus Operator's PrometheusRule, strict: `promtool check rules` checks the expressions.
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string", "pattern": "^[A-Za-z]\\w*$"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": _LABELS,
                                        "annotations": _LABELS,
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def schema_errors(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    name = doc.get("metadata", {}).get("name", "?")
    return [
        f"{doc.get('kind')}/{name} at {'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def validate_crd(doc: dict[str, Any]) -> list[str]:
    if doc.get("kind") == "ScaledObject":
        problems = schema_errors(doc, SCALED_OBJECT_SCHEMA)
        validator = jsonschema.Draft202012Validator(NATS_JETSTREAM_METADATA)
        for trigger in doc.get("spec", {}).get("triggers", []):
            if trigger.get("type") == "nats-jetstream":
                problems += [
                    f"ScaledObject/{doc['metadata']['name']} nats-jetstream metadata: {e.message}"
                    for e in validator.iter_errors(trigger.get("metadata", {}))
                ]
        return problems
    if doc.get("kind") == "ServiceMonitor":
        return schema_errors(doc, SERVICE_MONITOR_SCHEMA)
    if doc.get("kind") == "PrometheusRule":
        return schema_errors(doc, PROMETHEUS_RULE_SCHEMA)
    return [f"no schema for {doc.get('apiVersion')} {doc.get('kind')}"]


def validate(doc: dict[str, Any]) -> list[str]:
    """Every check that applies to one rendered object."""
    if (doc.get("apiVersion"), doc.get("kind")) in CRD_KINDS:
        return validate_crd(doc)
    problems: list[str] = []
    for version in KUBERNETES_VERSIONS:
        problems += validate_builtin(doc, version)
    problems += workload_policy(doc)
    return problems


# ----------------------------------------------------------------------------- policy


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if doc.get("kind") == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def workload_policy(doc: dict[str, Any]) -> list[str]:
    """The restricted pod security profile, probes, resources and no inline secrets."""
    spec = pod_spec(doc)
    if spec is None:
        return []
    where = f"{doc['kind']}/{doc['metadata']['name']}"
    problems = []
    pod_sc = spec.get("securityContext") or {}
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append(f"{where}: uses the host's namespaces")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken is not false")
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod runAsNonRoot is not true")
    if not pod_sc.get("runAsUser"):
        problems.append(f"{where}: pod runs as root (runAsUser {pod_sc.get('runAsUser')})")
    if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v and v.get("name")}
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    for c in containers:
        at = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root is not True:
            problems.append(f"{at}: runAsNonRoot is not true")
        if user is None or user == 0:
            problems.append(f"{at}: runs as root (runAsUser {user})")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem is not true")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{at}: capabilities do not drop ALL")
        if (sc.get("capabilities") or {}).get("add"):
            problems.append(f"{at}: adds capabilities")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        if mounts.get("/tmp") not in tmp_volumes:
            problems.append(f"{at}: /tmp is not an emptyDir")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(kind) or {}):
                    problems.append(f"{at}: no {resource} {kind}")
        image = c.get("image", "")
        if not image or image.endswith(":latest"):
            problems.append(f"{at}: image {image!r} is not pinned")
        for env in c.get("env", []):
            if SECRET_NAME.search(env["name"]) and "value" in env:
                problems.append(f"{at}: {env['name']} has an inline value, use a Secret")
        if doc["kind"] == "Deployment":
            problems += _probes(at, c)
    return problems


def _probes(at: str, container: dict[str, Any]) -> list[str]:
    problems = []
    ports = {p.get("name") for p in container.get("ports", [])} | {
        p.get("containerPort") for p in container.get("ports", [])
    }
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        spec = container.get(probe)
        if not spec:
            problems.append(f"{at}: no {probe}")
            continue
        get = spec.get("httpGet") or {}
        if not get.get("path"):
            problems.append(f"{at}: {probe} is not an HTTP check")
        elif get.get("port") not in ports:
            problems.append(f"{at}: {probe} port {get.get('port')!r} is not a container port")
    return problems


def figsync_probe_paths(container: dict[str, Any]) -> dict[str, str]:
    return {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
        if probe in container
    }


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ----------------------------------------------------------------------------- Dockerfile


@dataclass
class Stage:
    name: str
    base: str
    args: dict[str, str | None] = field(default_factory=dict)
    copies: list[tuple[str | None, list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    user: str | None = None
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def parse_dockerfile(text: str) -> tuple[dict[str, str | None], dict[str, Stage]]:
    import json
    import shlex

    global_args: dict[str, str | None] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for keyword, rest in dockerfile_instructions(text):
        if keyword == "ARG":
            name, eq, default = rest.partition("=")
            (stage.args if stage else global_args)[name] = default if eq else None
        elif keyword == "FROM":
            parts = rest.split()
            base = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else base
            stage = Stage(name=name, base=base)
            if base in stages:
                parent = stages[base]
                stage.args = dict(parent.args)
                stage.copies = list(parent.copies)
                stage.runs = list(parent.runs)
                stage.env = dict(parent.env)
                stage.user = parent.user
            stages[name] = stage
        elif stage is None:
            continue
        elif keyword == "COPY":
            words = shlex.split(rest)
            source_stage = None
            while words and words[0].startswith("--"):
                flag = words.pop(0)
                if flag.startswith("--from="):
                    source_stage = flag.removeprefix("--from=")
            stage.copies.append((source_stage, words[:-1], words[-1]))
        elif keyword == "RUN":
            stage.runs.append(rest)
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "ENV":
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', rest):
                stage.env[key] = value.strip('"')
        elif keyword in ("CMD", "ENTRYPOINT"):
            value = json.loads(rest) if rest.startswith("[") else ["sh", "-c", rest]
            setattr(stage, keyword.lower(), value)
    return global_args, stages


def dockerfile_policy(text: str, targets: Iterable[str]) -> list[str]:
    """Every image target runs as a fixed non-root user and installs through a build stage."""
    global_args, stages = parse_dockerfile(text)
    problems = []
    image = global_args.get("PYTHON_IMAGE") or ""
    if not image or image.endswith(":latest") or ":" not in image:
        problems.append(f"base image {image!r} is not pinned to a version")
    for target in targets:
        stage = stages.get(target)
        if stage is None:
            problems.append(f"no target {target!r}")
            continue
        user = (stage.user or "").split(":")[0]
        if not user.isdigit() or int(user) == 0:
            problems.append(f"target {target}: USER {stage.user!r} is not a numeric non-root uid")
        if not (stage.cmd or stage.entrypoint):
            problems.append(f"target {target}: no CMD or ENTRYPOINT")
        builds = [src for src, _, dest in stage.copies if src and dest == "/opt/figsync"]
        if len(builds) != 1:
            problems.append(f"target {target}: copies /opt/figsync from {builds}, want one stage")
    return problems


def build_stage_of(stages: dict[str, Stage], target: str) -> Stage:
    [source] = [src for src, _, dest in stages[target].copies if src and dest == "/opt/figsync"]
    return stages[source]


def copy_context(stage: Stage, destination: Path, args: dict[str, str]) -> None:
    """Do the stage's COPY instructions from the repository into `destination`, leaving out
    what .dockerignore leaves out of the build context."""
    ignore = shutil.ignore_patterns(
        "__pycache__",
        "*.pyc",
        ".pytest_cache",
        ".ruff_cache",
        "*.egg-info",
        "build",
        "dist",
        "tests",
        "node_modules",
    )
    for source_stage, sources, dest in stage.copies:
        if source_stage:
            continue
        for source in sources:
            source = substitute(source, args)
            target = destination / substitute(dest, args)
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=ignore, dirs_exist_ok=True)
            else:
                target = target / origin.name if dest.endswith("/") else target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def constraints_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[normalize(name)] = version
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def console_scripts(package_dir: Path) -> dict[str, str]:
    data = tomllib.loads((package_dir / "pyproject.toml").read_text())
    return data["project"].get("scripts", {})


def deep_copy(doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(doc)
