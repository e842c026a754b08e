"""API tokens for tests: real tokens in the test's database, sent per team by path."""

import re

import httpx

from figsync_projector.auth import Authenticator, issue_token

CSRF_KEY = b"test-csrf-key"


def authenticator(pool, **options) -> Authenticator:
    return Authenticator(pool, csrf_key=CSRF_KEY, **options)


async def tokens_for(pool, *teams: str, role: str = "admin") -> dict[str, str]:
    return {team: (await issue_token(pool, team, role, name="tests")).token for team in teams}


class TeamTokens(httpx.Auth):
    """Sends the token of the team named in /api/teams/{team}/...; `default` elsewhere."""

    def __init__(self, tokens: dict[str, str], default: str) -> None:
        self.tokens, self.default = tokens, default

    def auth_flow(self, request: httpx.Request):
        found = re.match(r"^/api/teams/([^/]+)/", request.url.path)
        team = found.group(1) if found and found.group(1) in self.tokens else self.default
        request.headers["Authorization"] = f"Bearer {self.tokens[team]}"
        yield request
