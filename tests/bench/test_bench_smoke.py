"""bench/run.py prints its table: the quick mode of the cheap figures, numbers, no timing."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def test_the_quick_mode_prints_one_table_with_measured_numbers():
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", "parse,ingest"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "| figure | target | measured | status | before | notes |" in lines, done.stdout
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    parse = rows["parses/s per core, real fixture email"]
    assert re.search(r"\| [\d,]+ /s \| (met|MISSED) \|", parse), parse
    ingest = rows["ingest accepted emails/s and p99"]
    assert re.search(r"\| [\d,]+ /s, p99 [\d.]+ ms \(c=\d+\) \| (met|MISSED) \|", ingest), ingest


def test_the_shared_budget_acquire_cost_prints_its_percentiles_and_rate():
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", "budget"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines()
            if line.startswith("| ")}  # fmt: skip
    budget = rows["cost of one shared-budget acquire (p50/p99)"]
    assert re.search(
        r"\| measured \| p50 [\d.]+ / p99 [\d.]+ ms, [\d,]+ acquires/s \(3 × 16 callers\) \| - \|",
        budget,
    ), budget
    assert re.search(r"one caller alone: p50 [\d.]+ / p99 [\d.]+ ms, [\d,]+ acquires/s", budget)


def test_an_unknown_figure_is_refused_with_the_known_ones():
    done = subprocess.run(
        [sys.executable, str(RUN), "--only", "nonsense"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "nonsense" in done.stderr and "throughput" in done.stderr
