"""Deterministic stream ids: the same source always lands on the same job stream."""

import uuid

_NAMESPACE = uuid.UUID("5b1f0f5e-6a39-4f7e-9d0c-2f1c7a9d3e11")


def email_job_id(team: str, message_id: str) -> str:
    """Job id of an inbound email, derived from its Message-ID (angle brackets ignored)."""
    normalized = message_id.strip().strip("<>").strip().lower()
    return str(uuid.uuid5(_NAMESPACE, f"email:{team}:{normalized}"))


def comment_job_id(team: str, file_key: str, comment_id: str) -> str:
    """Job id of a comment that arrived by webhook or manual sync."""
    return str(uuid.uuid5(_NAMESPACE, f"comment:{team}:{file_key}:{comment_id}"))


def comment_claim_stream_id(team: str, file_key: str, comment_id: str) -> str:
    """Stream whose first event says which job owns a comment (one comment, one task)."""
    return f"comment-claim:{team}:{file_key}:{comment_id}"


def team_stream_id(team: str) -> str:
    """Stream holding a team's settings history."""
    return f"team:{team}"


def notion_page_stream_id(team: str, page_id: str) -> str:
    """Stream of the Notion webhook events about one task page (NotionPageChanged)."""
    return f"notion-page:{team}:{page_id}"


def audit_stream_id(team: str) -> str:
    """Stream of a team's audit records (AuditRecorded): tokens and members changed."""
    return f"audit:{team}"


def summary_preview_stream_id(team: str, preview_id: str) -> str:
    """Stream of one AI preview (SummaryPreviewed): a preview id runs, and is paid for, once."""
    return f"summary-preview:{team}:{preview_id}"
