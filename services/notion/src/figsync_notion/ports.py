"""The port the handler needs from Notion (the adapter is figsync_notion.adapters.notion_api)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from figsync_notion.mapping import Person


class NotionRefused(Exception):
    """Notion answered a request with an error that trying again will not fix (4xx but 429)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class NotionPages(Protocol):
    """Notion's API as the task step uses it; every call names the integration token."""

    async def me(self, token: str) -> dict[str, Any]: ...

    async def database(self, token: str, database_id: str) -> dict[str, Any]: ...

    async def data_source(self, token: str, data_source_id: str) -> dict[str, Any]: ...

    async def add_property(
        self, token: str, data_source_id: str, name: str, definition: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def find_pages(
        self, token: str, data_source_id: str, prop: str, value: str
    ) -> list[dict[str, Any]]: ...

    async def create_page(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def append_children(
        self, token: str, block_id: str, children: list[dict[str, Any]]
    ) -> None: ...

    async def count_children(self, token: str, block_id: str) -> int: ...

    async def users(self, token: str) -> list[Person]: ...

    async def page(self, token: str, page_id: str) -> dict[str, Any]: ...

    async def update_page(
        self, token: str, page_id: str, properties: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def children(self, token: str, block_id: str) -> list[dict[str, Any]]: ...

    async def edited_since(
        self, token: str, data_source_id: str, prop: str, since: datetime
    ) -> list[dict[str, Any]]: ...
