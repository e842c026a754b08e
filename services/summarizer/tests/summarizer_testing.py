"""Threads for the summarizer's tests."""

from __future__ import annotations

from figsync_contracts import ThreadComment, ThreadResolved


def thread_event(*texts: str, file_name: str = "Onboarding Flow") -> ThreadResolved:
    """A resolved thread whose comments say `texts` (the first is the root)."""
    authors = ["Maarten", "Anna Smith", "Joe"]
    comments = [
        ThreadComment(comment_id=str(1000 + i), author=authors[i % 3], text=text)
        for i, text in enumerate(texts)
    ]
    return ThreadResolved(
        file_key="Xk3pQ9dLm2RtV8bNc4HsZa",
        file_name=file_name,
        file_url="https://www.figma.com/design/Xk3pQ9dLm2RtV8bNc4HsZa",
        comment_id=comments[-1].comment_id,
        root_comment_id=comments[0].comment_id,
        author=comments[-1].author,
        text=texts[-1],
        mentions=["@Anna Smith"],
        thread=comments,
    )


DEFAULT_THREAD = (
    "@Anna Smith can you review the onboarding copy on the welcome screen?",
    "Sure. The headline is too long; shorten it to one line. Update the button label too.",
)
