"""Where from and how often a principal may reach a team: the team's network allow-list (the
global one is a middleware, figsync_runtime.edge) and the read API's rate per token, a budget
in Postgres (figsync_clients.budget) so that every replica spends the same one."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from figsync_clients.budget import Budget, Budgets
from figsync_clients.resilience import credential_key
from figsync_projector.auth import Principal
from figsync_projector.errors import HttpError
from figsync_runtime.edge import (
    NETWORK_REFUSED,
    allowed,
    client_address,
    network_refused_message,
    parse_networks,
)
from figsync_runtime.errors import RetryableError
from figsync_runtime.teams import TeamRepository


@dataclass(frozen=True)
class Access:
    """The projector's access policy: proxies trusted for the client's address, and the API's
    requests per minute per token (`per_minute` 0: unlimited) with a burst."""

    trusted_hops: int = 0
    networks: tuple[str, ...] = ()  # FIGSYNC_ALLOWED_NETWORKS, for every route (the middleware)
    per_minute: float = 0.0
    burst: int = 1
    budgets: Budgets | None = None  # SharedBudgets(pool, max_wait=0) in the service

    async def check_network(self, request: Request, team: str, teams: TeamRepository | None):
        settings = await teams.get(team) if teams is not None else None
        if settings is None or not settings.allowed_networks:
            return
        address = client_address(request, self.trusted_hops)
        if not allowed(address, parse_networks(settings.allowed_networks)):
            raise HttpError(403, NETWORK_REFUSED, network_refused_message(address, team))

    def refuse_lock_out(self, request: Request, networks: list[str] | None) -> None:
        """An admin cannot save an allow-list that leaves out the address they change it from
        (they would lose the dashboard at once)."""
        if not networks:
            return
        address = client_address(request, self.trusted_hops)
        if not allowed(address, parse_networks(networks)):
            raise HttpError(
                422,
                "access.would_lock_out",
                f"allowed_networks leaves out {address}, where this change comes from; add its "
                "network to the list",
            )

    def budget(self, principal: Principal) -> Budget:
        # A token (or a session opened with it) spends its token's budget; a proxy user their own.
        who = principal.token_id or credential_key(principal.actor)
        return Budget("api", who, self.per_minute, 60.0, max(self.burst, 1))

    async def take(self, principal: Principal) -> None:
        """One request of the principal's budget, or 429 `api.rate_limited` with Retry-After."""
        if self.budgets is None or self.per_minute <= 0:
            return
        try:
            await self.budgets.acquire(self.budget(principal))
        except RetryableError as error:  # the budget is spent (WaitError)
            wait = max(1, round(error.retry_after or 1))
            raise HttpError(
                429,
                "api.rate_limited",
                f"this token made more than {self.per_minute:g} requests a minute (burst "
                f"{self.burst}); retry after {wait} s",
                {"Retry-After": str(wait)},
            ) from error
