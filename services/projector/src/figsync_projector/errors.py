"""The projector's one refusal type, shared by its HTTP surfaces, its commands and its CLI."""

from __future__ import annotations


class HttpError(Exception):
    """A refusal: an HTTP status, a stable code and what to do. The API answers it as
    `{"error": {"code", "message"}}`, the dashboard as an error page or flash, the CLI as a
    `code: message` line."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.headers = status, code, message, headers
