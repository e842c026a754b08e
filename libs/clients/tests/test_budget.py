"""One budget and one breaker per credential, shared by replicas through Postgres: what one
process spends, waits out or sees failing, every other process holding the credential sees."""

import asyncio

import pytest

from figsync_clients.budget import Budget, LocalBudgets, SharedBudgets
from figsync_clients.resilience import CircuitOpen
from figsync_eventstore import create_pool
from figsync_runtime.errors import WaitError

pytestmark = pytest.mark.integration


class Sleeps:
    """Records the waits a budget asks for instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def replicas(database_url):
    pools = [await create_pool(database_url, max_size=2) for _ in range(3)]
    yield pools
    for pool in pools:
        await pool.close()


async def tat(pool, budget: Budget) -> float:
    return await pool.fetchval(
        "SELECT extract(epoch FROM tat) FROM rate_budgets WHERE key = $1", budget.key
    )


async def test_calls_from_three_replicas_draw_on_one_budget(replicas):
    budget = Budget("figma", "tokenA", rate=600, period=60)  # one call per 0.1 s
    sleeps = Sleeps()
    budgets = [SharedBudgets(pool, sleep=sleeps, max_wait=60) for pool in replicas]
    await budgets[0].acquire(budget)
    start = await tat(replicas[0], budget)
    await asyncio.gather(*(budgets[n % 3].acquire(budget) for n in range(30)))
    # Thirty more calls, whichever replica made them: the budget moved on by exactly thirty
    # intervals, and every one of them was told to wait for its own slot.
    assert await tat(replicas[1], budget) - start == pytest.approx(3.0, abs=1e-6)
    assert len(sleeps.waits) == 30 and all(w > 0 for w in sleeps.waits)
    other = Budget("figma", "tokenB", rate=600, period=60)
    assert (await budgets[2].acquire(other)).budget == other  # another token: its own budget
    assert len(sleeps.waits) == 30


async def test_a_wait_longer_than_allowed_is_refused_without_spending(replicas):
    budget = Budget("notion", "tokenN", rate=1, period=1)
    budgets = SharedBudgets(replicas[0], sleep=Sleeps(), max_wait=2.5)
    for _ in range(3):  # now, +1 s, +2 s
        await budgets.acquire(budget)
    before = await tat(replicas[0], budget)
    with pytest.raises(WaitError) as refused:
        await SharedBudgets(replicas[1], max_wait=2.5).acquire(budget)
    assert refused.value.code == "notion.budget_exhausted"
    assert refused.value.waiting and 2.5 < refused.value.retry_after <= 3.0
    assert await tat(replicas[0], budget) == before


async def test_the_low_priority_lane_takes_only_a_slot_that_is_free_now(replicas):
    """Reactions (max_wait=0) go when the budget is idle and step aside while any call has
    queued for a slot; they never take the slot a reply waits for."""
    budget = Budget("figma", "tokenL", rate=6, period=60)  # Starter-like: one call per 10 s
    sleeps = Sleeps()
    reply, reaction = (SharedBudgets(pool, sleep=sleeps, max_wait=60) for pool in replicas[:2])
    await reaction.acquire(budget, max_wait=0)  # idle: a reaction goes at once
    assert sleeps.waits == []
    await reply.acquire(budget)  # the reply queues for the next slot, 10 s on
    queued = await tat(replicas[0], budget)
    with pytest.raises(WaitError) as refused:
        await reaction.acquire(budget, max_wait=0)
    assert refused.value.code == "figma.budget_exhausted" and refused.value.retry_after > 0
    assert await tat(replicas[0], budget) == queued  # the reaction reserved nothing
    await reply.acquire(budget)  # the next reply is not pushed back by the refused reaction
    assert sleeps.waits == [pytest.approx(10, abs=0.5), pytest.approx(20, abs=0.5)]


async def test_a_429_seen_by_one_replica_holds_back_every_replica(replicas):
    budget = Budget("figma", "tokenR", rate=6000, period=60)
    await SharedBudgets(replicas[0]).acquire(budget)
    await SharedBudgets(replicas[0]).limited(budget, retry_after=5)
    sleeps = Sleeps()
    await SharedBudgets(replicas[1], sleep=sleeps, max_wait=30).acquire(budget)
    assert 4.5 < sleeps.waits[0] <= 5.0
    counted = await replicas[2].fetchval(
        "SELECT limited FROM rate_budgets WHERE key = $1", budget.key
    )
    assert counted == 1


async def test_an_open_circuit_is_open_for_every_replica_and_one_trial_closes_it(replicas):
    budget = Budget("anthropic", "keyC", rate=6000, period=60)
    a, b, c = (SharedBudgets(pool, breaker_threshold=3, breaker_reset=0.5) for pool in replicas)
    for _ in range(3):
        permit = await a.acquire(budget)
        await a.done(permit, ok=False)  # a timeout, a 5xx
    with pytest.raises(CircuitOpen) as open_circuit:
        await b.acquire(budget)
    assert open_circuit.value.code == "anthropic.circuit_open"
    assert 0 < open_circuit.value.retry_after <= 0.5
    await asyncio.sleep(0.6)
    trial = await b.acquire(budget)
    assert trial.probe
    with pytest.raises(CircuitOpen):  # while the trial runs, the others still wait
        await c.acquire(budget)
    await b.done(trial, ok=True)
    assert not (await c.acquire(budget)).probe


async def test_local_budgets_keep_the_same_contract_in_one_process():
    sleeps = Sleeps()
    budgets = LocalBudgets(sleep=sleeps, max_wait=1.0, clock=lambda: 100.0)
    budget = Budget("figma", "t", rate=60, period=60)
    await budgets.acquire(budget)
    await budgets.acquire(budget)
    assert sleeps.waits == [1.0]
    with pytest.raises(WaitError):
        await budgets.acquire(budget)
