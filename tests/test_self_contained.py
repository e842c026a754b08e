"""A clone of the repository stands alone: nothing it tracks reads a path outside it, and a copy
of the tree with nothing beside it collects the whole suite and runs the tests that read the
real fixtures."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Spelled in pieces so this file does not match itself.
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "/shared/" + "fixtures", "/" + "work/"]))

FIXTURE_READERS = [
    "libs/sandbox/tests/test_emails.py",
    "services/figma/tests/test_parse.py",
    "tools/cli/tests/test_cli.py::test_parse_email_prints_the_real_fixture_as_json",
]


def tracked_files() -> list[str]:
    listed = subprocess.run(
        # Untracked files that git would add count too: they are what the next commit holds.
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [name for name in listed.decode().split("\0") if name]


@pytest.mark.unit
def test_no_tracked_file_names_a_path_outside_the_repository():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    offenders = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{name}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.unit
def test_the_real_fixtures_are_in_the_repository_with_their_licences():
    from figsync_sandbox.fixtures import (
        figma_mention_email,
        figma_openapi_spec,
        fixtures_dir,
        notion_cassettes,
    )

    assert fixtures_dir().is_relative_to(ROOT)
    assert "mentioned you in a comment" in figma_mention_email().read_text("utf-8")
    assert figma_openapi_spec().stat().st_size > 100_000
    assert len(notion_cassettes()) >= 10
    for folder in ("figma", "notion"):
        assert "MIT" in (fixtures_dir() / folder / "LICENSE").read_text()
    assert (fixtures_dir() / "README.md").exists()


@pytest.mark.e2e
def test_a_copy_of_the_tree_alone_collects_the_suite_and_runs_the_fixture_tests(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    copy = tmp_path / "elsewhere" / "figsync"
    for name in tracked_files():
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    # The copy's packages shadow the editable installs, so its own files are what is read.
    sources = [str(p) for p in sorted(copy.glob("*/*/src"))]
    env = {k: v for k, v in os.environ.items() if k != "FIGSYNC_FIXTURES"}
    env["PYTHONPATH"] = os.pathsep.join(sources)

    where = subprocess.run(
        [sys.executable, "-c", "import figsync_sandbox.fixtures as f; print(f.fixtures_dir())"],
        cwd=copy, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(copy)

    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "error" not in collected.stdout.splitlines()[-1].lower()

    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FIXTURE_READERS],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert " passed" in ran.stdout.splitlines()[-1]
