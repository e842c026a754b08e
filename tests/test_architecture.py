"""Boundaries: a service imports libs and itself, never another service; libs import no service."""

import ast
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def imported_modules(package_dir: Path, root: Path = ROOT) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(root)))
    return found


def test_there_are_six_services_each_its_own_package():
    assert SERVICES == ["figma", "ingest", "notifier", "notion", "projector", "summarizer"]
    for name in SERVICES:
        assert (ROOT / "services" / name / "src" / f"figsync_{name}" / "main.py").exists()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service):
    others = {f"figsync_{s}" for s in SERVICES if s != service}
    imports = imported_modules(ROOT / "services" / service)
    crossing = {module: sorted(files) for module, files in imports.items() if module in others}
    assert not crossing, f"{service} imports another service: {crossing}"


def test_libraries_never_import_a_service():
    service_packages = {f"figsync_{s}" for s in SERVICES}
    for lib in (ROOT / "libs").iterdir():
        imports = imported_modules(lib / "src") if (lib / "src").exists() else {}
        crossing = set(imports) & service_packages
        assert not crossing, f"libs/{lib.name} imports a service: {crossing}"


def test_contracts_depend_on_pydantic_only():
    allowed = {"pydantic", "figsync_contracts", "__future__"}
    imports = imported_modules(ROOT / "libs" / "contracts" / "src")
    assert set(imports) - allowed - set(sys.stdlib_module_names) == set()


def test_the_boundary_check_catches_a_crossing_import(tmp_path):
    (tmp_path / "handlers.py").write_text("import os\nfrom figsync_notion.bootstrap import build\n")
    assert imported_modules(tmp_path, tmp_path)["figsync_notion"] == {"handlers.py"}
