"""What the job page tells: the thread as figsync read it, the summary, the links, the trace,
and the error with what to do about it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from figsync_contracts.error_codes import describe


def tell(job: dict[str, Any], story: dict[str, Any], tracing_ui_url: str | None) -> dict[str, Any]:
    """The job page's story from the job's row and its story row."""
    trace = story.get("trace_id")
    return {
        **story,
        "comment_url": comment_url(job, story.get("file_url")),
        "trace_url": tracing_ui_url.replace("{trace_id}", quote(trace))
        if trace and tracing_ui_url
        else None,
        "error": describe(job["error_code"]) if job.get("error_code") else None,
    }


def comment_url(job: dict[str, Any], file_url: str | None) -> str | None:
    """The comment in Figma: the file's link with the comment id as its fragment."""
    if not job.get("comment_id") or not (file_url or job.get("file_key")):
        return None
    base = (file_url or f"https://www.figma.com/design/{quote(job['file_key'])}").split("#")[0]
    if not base.startswith("https://"):
        return None
    return f"{base}#{quote(job['comment_id'])}"


# What the job page lists under "Task" (short event types as the timeline names them).
_HISTORY = {
    "ThreadUpdated": "Thread update",
    "SummaryRefreshed": "Summary refreshed",
    "TaskUpdated": "Task page updated",
    "TaskStatusChanged": "Status in Notion",
    "FigmaThreadClosed": "Resolved in Figma",
    "ThreadNotified": "Told the Figma thread",
    "CommentReacted": "Reaction",
    "LifecycleFailed": "Could not update Figma",
}


def lifecycle(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """The task's status as Notion has it (last seen) and its update history, from the
    timeline: what happened to the task and the thread after the task was created."""
    status = None
    history = []
    for entry in timeline:
        what = _HISTORY.get(entry["type"])
        if what is None:
            continue
        detail = entry.get("detail") or {}
        if entry["type"] == "TaskStatusChanged":
            status = detail
        history.append({"what": what, "type": entry["type"], "when": entry["recorded_at"],
                        "detail": detail})  # fmt: skip
    return {"status": status, "history": history}
