"""Routing a team's tasks to Notion targets: the first matching route wins; hostile settings are
refused with a message that names the problem."""

import pytest
from pydantic import ValidationError

from figsync_runtime.routing import MAX_NOTION_TARGETS, NotionRoute, NotionTarget
from figsync_runtime.teams import TeamSettings

pytestmark = pytest.mark.unit

DEFAULT_DB = "e234cdc8-4ad2-4371-a97e-999a238bf8f5"
BUGS_DB = "0123456789abcdef0123456789abcdef"
REVIEW_DB = "fedcba98-7654-3210-fedc-ba9876543210"


def team(**changes: object) -> TeamSettings:
    settings = {
        "team": "t",
        "notion_database_id": DEFAULT_DB,
        "notion_field_mapping": {"Name": "title"},
        "notion_targets": [
            {"name": "Bugs", "database_id": BUGS_DB, "field_mapping": {"Severity": "priority"}},
            {"name": "Reviews", "database_id": f"https://www.notion.so/acme/{REVIEW_DB}?v=1"},
        ],
        "notion_routes": [
            {"target": "Reviews", "categories": ["review"]},
            {"target": "Bugs", "file_keys": ["FILEbugs"], "priorities": ["high"]},
            {"target": "bugs", "file_keys": ["https://www.figma.com/design/FILEbugs/Bugs"]},
            {"target": "default", "file_keys": ["FILEmain"]},
        ],
    }
    return TeamSettings.model_validate({**settings, **changes})


def where(settings: TeamSettings, file_key: str, category: str, priority: str) -> tuple[str, str]:
    routed = settings.route(file_key=file_key, category=category, priority=priority)
    return routed.target, routed.rule


def test_the_first_matching_route_decides():
    settings = team()
    # A review goes to Reviews whatever the file: route 1 comes first.
    assert where(settings, "FILEbugs", "review", "high") == ("Reviews", "route 1 (category review)")
    # Every condition of a route must hold: route 2 needs high priority, route 3 any.
    assert where(settings, "FILEbugs", "design", "high")[0] == "Bugs"
    assert where(settings, "FILEbugs", "design", "high")[1].startswith("route 2 (file FILEbugs")
    assert where(settings, "FILEbugs", "design", "low") == ("Bugs", "route 3 (file FILEbugs)")
    assert where(settings, "FILEmain", "design", "low") == ("default", "route 4 (file FILEmain)")
    assert where(settings, "FILEother", "other", "low") == ("default", "no route matched")


def test_a_target_brings_its_database_and_mapping():
    settings = team()
    bugs = settings.route(file_key="FILEbugs", category="design", priority="low")
    assert bugs.database_id == "01234567-89ab-cdef-0123-456789abcdef"
    assert bugs.field_mapping == {"Severity": "priority"}
    review = settings.route(file_key="x", category="review", priority="low")
    assert review.database_id == REVIEW_DB and review.field_mapping == {}
    fallback = settings.route(file_key="x", category="design", priority="low")
    assert (fallback.database_id, fallback.field_mapping) == (DEFAULT_DB, {"Name": "title"})


def test_a_team_without_targets_keeps_its_one_database():
    settings = TeamSettings(team="t", notion_database_id=DEFAULT_DB)
    routed = settings.route(file_key="F", category="design", priority="high")
    assert (routed.target, routed.database_id, routed.rule) == (
        "default", DEFAULT_DB, "no route matched")  # fmt: skip
    assert settings.target("default").database_id == DEFAULT_DB  # type: ignore[union-attr]
    assert settings.target("Bugs") is None


def test_targets_are_found_by_name_in_any_case():
    settings = team()
    assert settings.target("BUGS").target == "Bugs"  # type: ignore[union-attr]
    assert settings.target("nope") is None


def refused(**changes: object) -> str:
    with pytest.raises(ValidationError) as error:
        team(**changes)
    return str(error.value)


def test_a_route_to_an_unknown_target_is_refused():
    message = refused(notion_routes=[{"target": "Bugz", "categories": ["design"]}])
    assert "route 1 sends tasks to 'Bugz', which is not a target" in message
    assert "targets: default, Bugs, Reviews" in message


def test_target_names_are_unique_in_any_case():
    targets = [
        {"name": "Bugs", "database_id": BUGS_DB},
        {"name": "bugs", "database_id": REVIEW_DB},
    ]
    assert "two targets are named 'bugs'" in refused(notion_targets=targets, notion_routes=[])


def test_two_targets_on_one_database_are_refused():
    targets = [
        {"name": "Bugs", "database_id": BUGS_DB},
        {"name": "Other", "database_id": "01234567-89ab-cdef-0123-456789abcdef"},
    ]
    assert "use one target per database" in refused(notion_targets=targets, notion_routes=[])


def test_too_many_targets_or_routes_are_refused():
    targets = [{"name": f"T{i}", "database_id": f"{i:032x}"} for i in range(MAX_NOTION_TARGETS + 1)]
    assert "at most 10 items" in refused(notion_targets=targets, notion_routes=[])
    routes = [{"target": "default", "priorities": ["low"]}] * 51
    assert "at most 50 items" in refused(notion_routes=routes)


@pytest.mark.parametrize(
    "database_id",
    [
        "",
        "not-a-database",
        "0123456789abcdef0123456789abcdeg",
        "../../v1/users",
        "1" * 31,
        "javascript:alert(1)",
    ],  # fmt: skip
)
def test_bad_database_ids_are_refused(database_id: str):
    with pytest.raises(ValidationError, match="is not a Notion database id"):
        NotionTarget(name="Bugs", database_id=database_id)


@pytest.mark.parametrize(
    "name", ["", " ", "default", "DEFAULT", "a" * 41, "<script>", "line\nbreak", "-lead"]
)
def test_bad_target_names_are_refused(name: str):
    with pytest.raises(ValidationError):
        NotionTarget(name=name, database_id=BUGS_DB)


@pytest.mark.parametrize(
    "mapping",
    [
        {"": "title"},
        {" ": "title"},
        {"Na\x00me": "title"},
        {"Name": "ti\ntle"},
        {"Name": "x" * 201},
        {f"P{i}": "title" for i in range(51)},
    ],  # fmt: skip
)
def test_bad_field_mappings_are_refused(mapping: dict[str, str]):
    with pytest.raises(ValidationError):
        NotionTarget(name="Bugs", database_id=BUGS_DB, field_mapping=mapping)


@pytest.mark.parametrize(
    "rule, problem",
    [
        ({"target": "Bugs"}, "has no condition"),
        ({"target": "Bugs", "categories": ["bug"]}, "Input should be"),
        ({"target": "Bugs", "priorities": ["urgent"]}, "Input should be"),
        ({"target": "Bugs", "file_keys": ["../etc/passwd"]}, "neither a Figma file key"),
        ({"target": "Bugs", "file_keys": ["F"] * 201}, "at most 200 items"),
        ({"target": "Bugs", "categories": ["design"], "extra": 1}, "Extra inputs"),
        ({"target": "x" * 41, "categories": ["design"]}, "at most 40 characters"),
    ],
)
def test_bad_routes_are_refused(rule: dict[str, object], problem: str):
    with pytest.raises(ValidationError, match=problem):
        NotionRoute.model_validate(rule)


def test_removing_a_target_a_route_uses_is_refused():
    settings = team()
    with pytest.raises(ValidationError, match="'Reviews', which is not a target"):
        TeamSettings.model_validate(
            {**settings.model_dump(), "notion_targets": settings.model_dump()["notion_targets"][:1]}
        )


def test_settings_survive_their_own_dump():
    settings = team()
    again = TeamSettings.model_validate(settings.model_dump(mode="json"))
    assert again == settings
    assert again.notion_routes[2].file_keys == ["FILEbugs"]
