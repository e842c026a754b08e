"""Mentions read from a comment's text (manual sync, reconcile, a webhook without mentions)."""

import pytest

from figsync_figma.handlers import mentions_in_text

pytestmark = pytest.mark.unit


def test_tracked_handles_are_found_with_their_spaces_and_whole():
    text = "@Anna Smith and @dev.team: see @Anna Smithers too"
    assert mentions_in_text(text, ["@Anna Smith", "@dev.team"]) == ["@Anna Smith", "@dev.team"]
    assert mentions_in_text("@Anna Smithers only", ["@Anna Smith"]) == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("@Anna Smith can you check the header?", ["@Anna"]),
        ("ping @dev.team, and @li-wei.", ["@dev.team", "@li-wei"]),
        ("@Anna and @Anna again", ["@Anna"]),
        ("mail anna@example.com or see a.@b", []),
        ("no mention at all, just an @ sign and @@", []),
        ("(@Émile) thoughts?", ["@Émile"]),
    ],
)
def test_with_no_tracked_handles_every_mention_counts(text, found):
    assert mentions_in_text(text, []) == found
