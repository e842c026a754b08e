"""Shared pieces of the fuzz suite (imported as `fuzz_testing`): example budgets, the count
of inputs sent, and what every answer must look like."""

from __future__ import annotations

import os
from collections import Counter

import httpx
from hypothesis import HealthCheck, settings

# FIGSYNC_FUZZ_SCALE multiplies every budget (1 in CI: > 10,000 inputs in all).
SCALE = float(os.environ.get("FIGSYNC_FUZZ_SCALE", "1"))
SENT: Counter[str] = Counter()


def budget(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        derandomize=True,  # a fixed sequence in CI; FIGSYNC_FUZZ_SCALE widens it
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def check_answer(target: str, response: httpx.Response) -> None:
    """No 5xx ever; every refusal is a 4xx JSON body {"error": {"code", "message"}}."""
    assert response.status_code < 500, (target, response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert isinstance(error.get("code"), str) and "." in error["code"], body
        assert isinstance(error.get("message"), str) and error["message"], body
    SENT[target] += 1  # counted once it passed
