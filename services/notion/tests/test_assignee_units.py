"""Who a task is assigned to: explicit pairs, then an email match, then a name match (rapidfuzz),
each with its confidence; below the threshold, or for the comment's own author, no one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from figsync_notion.assignee import decide, people_property, property_value
from figsync_notion.mapping import Person
from figsync_runtime.teams import AssigneePair, TeamSettings

pytestmark = pytest.mark.unit

ANN = "0b1f6a3e-9a6c-4c55-9d1e-2f6f0d3f1a01"
ANNA = "0b1f6a3e-9a6c-4c55-9d1e-2f6f0d3f1a02"
MAARTEN = "0b1f6a3e-9a6c-4c55-9d1e-2f6f0d3f1a03"
BOT = "7775f3a3-893f-43fa-b625-460c61094c78"

# GET /v1/users answers as Notion documents them: people with person.email, and bots.
USERS_PAGE = {
    "object": "list",
    "results": [
        {"object": "user", "id": ANN, "type": "person", "name": "Ann Lee",
         "avatar_url": None, "person": {"email": "ann.lee@example.com"}},
        {"object": "user", "id": ANNA, "type": "person", "name": "Anna Smith",
         "avatar_url": "https://s3.us-west-2.amazonaws.com/a.png", "person": {"email": "anna@example.com"}},
        {"object": "user", "id": MAARTEN, "type": "person", "name": "Maarten",
         "avatar_url": None, "person": {}},
        {"object": "user", "id": BOT, "type": "bot", "name": "figsync", "avatar_url": None,
         "bot": {}},
    ],
    "next_cursor": None,
    "has_more": False,
    "type": "user",
    "user": {},
}  # fmt: skip
USERS = [p for p in map(Person.from_api, USERS_PAGE["results"]) if p is not None]


def pair(figma: str, notion: str) -> AssigneePair:
    return AssigneePair(figma=figma, notion=notion)


def test_users_of_the_list_are_people_only_with_their_emails():
    assert [(u.id, u.name, u.email) for u in USERS] == [
        (ANN, "Ann Lee", "ann.lee@example.com"),
        (ANNA, "Anna Smith", "anna@example.com"),
        (MAARTEN, "Maarten", ""),
    ]


def test_an_explicit_pair_wins_by_id_or_by_email():
    by_id = decide(["@Designer"], "Maarten", [pair("designer", ANN.replace("-", ""))], USERS, 90)
    assert (by_id.reason, by_id.user_id, by_id.method, by_id.confidence) == (
        "assigned", ANN, "explicit", 100.0,
    )  # fmt: skip
    assert by_id.note == "assigned to Ann Lee (explicit match, 100)"
    by_email = decide(["@Anna Smith"], "Maarten", [pair("@anna  smith", "ANN.LEE@example.com")],
                      USERS, 90)  # fmt: skip
    assert (by_email.user_id, by_email.method) == (ANN, "explicit")


def test_an_explicit_pair_naming_someone_outside_the_workspace_assigns_no_one():
    decision = decide(["@Designer"], "Maarten", [pair("Designer", "gone@example.com")], USERS, 90)
    assert decision.reason == "not_in_workspace" and decision.user_id is None
    assert "gone@example.com" in decision.note


def test_without_the_users_list_an_explicit_id_still_assigns_but_nothing_else_does():
    pairs = [pair("Designer", ANN)]
    assert decide(["@Designer"], "Maarten", pairs, None, 90, users_problem="403").user_id == ANN
    unreadable = decide(["@Anna Smith"], "Maarten", pairs, None, 90, users_problem="403 restricted")
    assert unreadable.reason == "users_unavailable" and "403 restricted" in unreadable.note


def test_email_matches_come_before_names():
    whole = decide(["@anna@example.com"], "Maarten", [], USERS, 90)
    assert (whole.user_id, whole.method, whole.confidence) == (ANNA, "email", 100.0)
    local = decide(["@ann.lee"], "Maarten", [], USERS, 90)
    assert (local.user_id, local.method, local.confidence) == (ANN, "email", 95.0)
    assert local.note == "assigned to Ann Lee (email match, 95)"
    # A local part two people share proves nothing: on to the names (here equally close).
    shared = [
        *USERS,
        Person("0b1f6a3e-9a6c-4c55-9d1e-2f6f0d3f1a08", "Lee Ann", "ann.lee@other.org"),
    ]
    assert decide(["@ann.lee"], "Maarten", [], shared, 90).reason == "ambiguous"


def test_a_name_match_assigns_above_the_threshold_and_not_below():
    named = decide(["@Anna Smith"], "Maarten", [], USERS, 90)
    assert (named.user_id, named.method, named.confidence) == (ANNA, "name", 100.0)
    assert decide(["@smith anna"], "Maarten", [], USERS, 90).user_id == ANNA  # word order
    near = decide(["@Ann"], "Maarten", [], USERS, 90)
    assert near.reason == "below_threshold" and near.user_id is None
    assert near.method == "name" and near.confidence is not None and near.confidence < 90
    assert (
        near.note
        == f"no assignee for @Ann: best name match 'Ann Lee' scored {near.confidence:.0f} < 90"
    )
    assert decide(["@Ann"], "Maarten", [], USERS, 50).user_id == ANN  # the team's own threshold


def test_names_that_nearly_match_do_not_assign_the_wrong_person():
    for handle in ("@Anne Smithers", "@Anna S", "@Hanna Schmidt"):
        decision = decide([handle], "Maarten", [], USERS, 90)
        assert decision.user_id is None, (handle, decision)


def test_two_people_with_the_same_name_are_ambiguous():
    twins = [*USERS, Person("0b1f6a3e-9a6c-4c55-9d1e-2f6f0d3f1a09", "Anna Smith", "")]
    decision = decide(["@Anna Smith"], "Maarten", [], twins, 90)
    assert decision.reason == "ambiguous" and decision.user_id is None


def test_the_author_is_never_the_assignee():
    alone = decide(["@Maarten"], "Maarten", [pair("Maarten", MAARTEN)], USERS, 90)
    assert alone.reason == "self_mention" and alone.user_id is None
    both = decide(["@maarten", "@Anna Smith"], "Maarten", [], USERS, 90)
    assert both.user_id == ANNA and both.mention == "@Anna Smith"


def test_nobody_to_match_against():
    assert decide(["@Anna Smith"], "Maarten", [], [], 90).reason == "no_match"
    nameless = decide(["@Anna Smith"], "Maarten", [], [Person(ANN, "", "")], 90)
    assert nameless.reason == "no_match" and nameless.user_id is None
    assert decide([], "Maarten", [], USERS, 90).reason == "no_mention"


def test_the_people_property_value_has_notions_shape():
    assert property_value(decide(["@Anna Smith"], "M", [], USERS, 90)) == {
        "people": [{"object": "user", "id": ANNA}]
    }
    assert property_value(decide(["@Ann"], "M", [], USERS, 90)) is None


def test_which_people_property_holds_the_assignee():
    props = {"Name": {"type": "title"}, "Owner": {"type": "people"},
             "Reviewer": {"type": "people"}, "Assignee": {"type": "people"}, "Due": {"type": "date"}}  # fmt: skip
    assert people_property(props, None) == ("Assignee", None)
    assert people_property(props, "Owner") == ("Owner", None)
    assert people_property(props, "") == (None, None)  # turned off
    assert people_property({"Name": {"type": "title"}}, None) == (None, None)
    only = {"Owner": {"type": "people"}, "Created by": {"type": "people"}}
    assert people_property(only, None, taken={"Created by"}) == ("Owner", None)
    many = people_property({k: v for k, v in props.items() if k != "Assignee"}, None)
    assert many[0] is None and many[1].reason == "no_people_property"
    missing = people_property(props, "Lead")
    assert missing[0] is None and missing[1].reason == "property_missing"
    wrong = people_property(props, "Due")
    assert wrong[0] is None and wrong[1].reason == "property_wrong_type"


def test_the_map_is_validated_and_size_limited():
    settings = TeamSettings(team="t", assignee_map=[{"figma": "@Ann", "notion": ANN}])
    assert settings.assignee_map[0] == AssigneePair(figma="@Ann", notion=ANN)
    for bad in ({"figma": "", "notion": ANN}, {"figma": "@Ann", "notion": "ann"},
                {"figma": "@A\x00", "notion": ANN}, {"figma": "@Ann", "notion": ANN, "x": 1}):  # fmt: skip
        with pytest.raises(ValidationError):
            TeamSettings(team="t", assignee_map=[bad])
    with pytest.raises(ValidationError, match="mapped twice"):
        TeamSettings(team="t", assignee_map=[{"figma": "@Ann", "notion": ANN},
                                             {"figma": "ann", "notion": ANNA}])  # fmt: skip
    with pytest.raises(ValidationError):
        TeamSettings(
            team="t", assignee_map=[{"figma": f"@u{i}", "notion": ANN} for i in range(501)]
        )
    for threshold in (-1, 101):
        with pytest.raises(ValidationError):
            TeamSettings(team="t", assignee_match_threshold=threshold)
