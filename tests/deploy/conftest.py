"""Fixtures for the deploy checks: rendered kustomize overlays, the Dockerfile's stages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import figsync_deploy_checks as checks


def require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{package} is not installed (add it to requirements-dev.txt)")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """Every overlay rendered by kustomize, once per session."""
    if checks.kustomize_command() is None:
        pytest.skip(
            "no kustomize >= v4: neither kubectl (with its embedded kustomize) nor kustomize"
            " is on PATH"
        )
    return {
        overlay: checks.render(checks.K8S / "overlays" / overlay) for overlay in checks.OVERLAYS
    }


@pytest.fixture(scope="session")
def kubernetes_validate() -> None:
    require("kubernetes_validate", "kubernetes-validate")
