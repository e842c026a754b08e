"""What the budgets export for the alerting rules: calls each credential's budget let through
next to the rate it allows (budget use), and calls refused by an open circuit."""

import pytest
from prometheus_client import REGISTRY, generate_latest

from figsync_clients.budget import Budget, LocalBudgets, SharedBudgets
from figsync_clients.resilience import CircuitOpen
from figsync_eventstore import create_pool


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _no_sleep(_: float) -> None:
    return None


async def spend_and_break(budgets, budget: Budget) -> None:
    for _ in range(3):
        permit = await budgets.acquire(budget)
        await budgets.done(permit, ok=False)
    with pytest.raises(CircuitOpen):
        await budgets.acquire(budget)


@pytest.mark.unit
async def test_local_budgets_count_granted_calls_the_allowed_rate_and_open_circuit_refusals():
    budget = Budget("notion", "metrics-local", rate=3, period=1.0, burst=3)
    granted = sample("figsync_budget_calls_total", provider="notion", credential="metrics-local")
    refused = sample("figsync_circuit_open_total", provider="notion")

    await spend_and_break(LocalBudgets(breaker_threshold=3, sleep=_no_sleep), budget)

    assert (
        sample("figsync_budget_calls_total", provider="notion", credential="metrics-local")
        == granted + 3
    )
    assert sample(
        "figsync_budget_calls_per_second", provider="notion", credential="metrics-local"
    ) == pytest.approx(3.0)
    assert sample("figsync_circuit_open_total", provider="notion") == refused + 1
    exported = generate_latest(REGISTRY)
    assert b"figsync_budget_calls_total" in exported
    assert b"figsync_circuit_open_total" in exported


@pytest.mark.integration
async def test_shared_budgets_count_the_same_way(database_url):
    pool = await create_pool(database_url, max_size=2)
    try:
        budget = Budget("anthropic", "metrics-shared", rate=50, period=60)
        granted = sample(
            "figsync_budget_calls_total", provider="anthropic", credential="metrics-shared"
        )
        refused = sample("figsync_circuit_open_total", provider="anthropic")

        await spend_and_break(SharedBudgets(pool, breaker_threshold=3, sleep=_no_sleep), budget)

        assert (
            sample("figsync_budget_calls_total", provider="anthropic", credential="metrics-shared")
            == granted + 3
        )
        assert sample(
            "figsync_budget_calls_per_second", provider="anthropic", credential="metrics-shared"
        ) == pytest.approx(50 / 60)
        assert sample("figsync_circuit_open_total", provider="anthropic") == refused + 1
    finally:
        await pool.close()
