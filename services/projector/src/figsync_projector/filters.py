"""Which jobs to show: the filters of the Jobs page, the read API and `figsync jobs list`.

One parser for all three, so a filter means the same everywhere and a bad one is refused with
the same code: `jobs.bad_status`, `jobs.bad_date`, `jobs.bad_range`, `jobs.bad_filter`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query

from figsync_projector.errors import HttpError
from figsync_projector.fold import STATUSES

TEXT_FIELDS = ("file", "author", "mention", "text", "error_code")
MAX_TEXT = 200


@dataclass(frozen=True)
class JobFilter:
    """Jobs of a team that match every given filter (an empty filter matches every job).

    `file`: the file key, or the file name (any case). `author`, `mention`: a handle, any case,
    with or without its @. `text`: part of the title or the comment. `error_code`: exact.
    `since`/`until`: UTC days of creation, both included."""

    status: tuple[str, ...] = ()
    file: str = ""
    author: str = ""
    mention: str = ""
    text: str = ""
    error_code: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]]) -> JobFilter:
        """From query parameters (each a list of values); raises HttpError 422 with a code."""

        def one(name: str) -> str:
            values = [v for v in query.get(name, ()) if v.strip()]
            return values[-1].strip() if values else ""

        status = tuple(dict.fromkeys(v for v in query.get("status", ()) if v))
        unknown = sorted(set(status) - set(STATUSES))
        if unknown:
            raise HttpError(
                422, "jobs.bad_status", f"unknown status {unknown}; one of {', '.join(STATUSES)}"
            )
        texts = {name: one(name) for name in TEXT_FIELDS}
        for name, value in texts.items():
            if len(value) > MAX_TEXT or "\x00" in value:
                raise HttpError(
                    422, "jobs.bad_filter", f"{name}: at most {MAX_TEXT} characters, no NUL"
                )
        since, until = _day(one("since"), "since"), _day(one("until"), "until")
        if since and until and since > until:
            raise HttpError(422, "jobs.bad_range", f"since ({since}) is after until ({until})")
        return cls(status, since=since, until=until, **texts)

    @property
    def active(self) -> bool:
        return self != JobFilter()

    def query(self, **extra: Any) -> str:
        """The filter as a query string (for links: pages, exports, the live stream)."""
        pairs: list[tuple[str, Any]] = [("status", s) for s in self.status]
        pairs += [(k, v) for k, v in asdict(self).items() if k != "status" and v]
        pairs += [(k, v) for k, v in extra.items() if v not in (None, "")]
        return urlencode(pairs)

    def matches(self, job: Mapping[str, Any]) -> bool:
        """The same test as the SQL in `Views.jobs`, for one job row (the live stream)."""
        if self.status and job["status"] not in self.status:
            return False
        if (
            self.file
            and self.file != job["file_key"]
            and _fold(self.file) != _fold(job["file_name"])
        ):
            return False
        if self.author and handle(self.author) != handle(job["author"]):
            return False
        if self.mention and handle(self.mention) not in mention_handles(job["mention"]):
            return False
        if self.text and _fold(self.text) not in _fold(search_text(job)):
            return False
        if self.error_code and self.error_code != job["error_code"]:
            return False
        day = job["created_at"].date()
        return not ((self.since and day < self.since) or (self.until and day > self.until))


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HttpError(
            422, "jobs.bad_date", f"{name}: {value[:40]!r} is not a day (YYYY-MM-DD, UTC)"
        ) from None


def _fold(value: str | None) -> str:
    return (value or "").lower()


def handle(value: str | None) -> str:
    return _fold(value).replace("@", "")


def mention_handles(mention: str | None) -> list[str]:
    """A job's mention column (handles joined by ", ") as normalized handles; the SQL
    expression index `jobs_team_mentions_idx` computes the same."""
    return [h for h in handle(mention).split(", ") if h]


def search_text(job: Mapping[str, Any]) -> str:
    return f"{job.get('title') or ''} {job.get('comment_text') or ''}"


def job_filter(
    status: Annotated[
        list[str] | None, Query(description="outcome or stage; repeat to match several")
    ] = None,
    file: Annotated[str, Query(description="file key or file name (any case)")] = "",
    author: Annotated[str, Query(description="the comment's author (any case, @ optional)")] = "",
    mention: Annotated[str, Query(description="a mentioned handle (any case, @ optional)")] = "",
    text: Annotated[str, Query(description="part of the title or the comment")] = "",
    error_code: Annotated[str, Query(description="e.g. figma.comment_not_found")] = "",
    since: Annotated[str, Query(description="first UTC day of creation, YYYY-MM-DD")] = "",
    until: Annotated[str, Query(description="last UTC day of creation, YYYY-MM-DD")] = "",
) -> JobFilter:
    """The filter as a FastAPI dependency (the same query parameters on every surface)."""
    return JobFilter.parse(
        {"status": status or [], "file": [file], "author": [author], "mention": [mention],
         "text": [text], "error_code": [error_code], "since": [since], "until": [until]}
    )  # fmt: skip


Filtered = Annotated[JobFilter, Depends(job_filter)]
