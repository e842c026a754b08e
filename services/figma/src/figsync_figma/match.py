"""Find the comment an email is about among all of a file's comments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from rapidfuzz import fuzz

from figsync_clients.figma import FigmaComment

_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


@dataclass(frozen=True)
class Candidate:
    comment: FigmaComment
    score: float
    text_score: float
    author_match: bool

    def describe(self) -> dict[str, object]:
        return {
            "comment_id": self.comment.id,
            "score": round(self.score, 3),
            "author": self.comment.user.handle,
            "text": self.comment.message[:120],
        }


def score(
    comment: FigmaComment, text: str, author: str | None, sent_at: datetime | None
) -> Candidate:
    """Text similarity weighs most; the author and closeness in time break near-ties."""
    text_score = fuzz.ratio(normalize(comment.message), normalize(text)) / 100
    partial = fuzz.token_set_ratio(normalize(comment.message), normalize(text)) / 100
    similarity = max(text_score, 0.9 * partial)
    author_match = bool(author) and normalize(comment.user.handle) == normalize(author or "")
    closeness = 0.0
    if sent_at is not None:
        gap = abs((sent_at - comment.created_at).total_seconds())
        closeness = 1.0 / (1.0 + gap / 3600)
    total = 0.75 * similarity + 0.15 * author_match + 0.10 * closeness
    return Candidate(comment, total, similarity, author_match)


def best_match(
    comments: list[FigmaComment],
    text: str,
    author: str | None,
    sent_at: datetime | None,
    threshold: float = 0.6,
) -> tuple[Candidate | None, list[Candidate]]:
    """The matching comment (ties go to the newest) and the top candidates considered."""
    ranked = sorted(
        (score(c, text, author, sent_at) for c in comments),
        key=lambda c: (round(c.score, 6), c.comment.created_at),
        reverse=True,
    )
    top = ranked[:5]
    if not ranked or ranked[0].text_score < threshold:
        return None, top
    return ranked[0], top
