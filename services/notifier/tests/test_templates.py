import pytest

from figsync_runtime.confirmation import DEFAULT_TEMPLATE, render_confirmation, template_problems

pytestmark = pytest.mark.unit

VALUES = {
    "title": "Fix {url} copy",
    "url": "https://notion.so/p1",
    "file_name": "F",
    "file_url": "u",
}


def test_the_default_template_carries_title_and_link():
    assert (
        render_confirmation(None, VALUES)
        == "📋 Tracked in Notion: Fix {url} copy — https://notion.so/p1"
    )
    assert render_confirmation("   ", VALUES) == render_confirmation(DEFAULT_TEMPLATE, VALUES)


@pytest.mark.parametrize(
    "template",
    ["{url.__class__.__mro__}", "{title[0]}", "{0}", "{}", "{title!r}", "{url:>9999999}"],
)
def test_hostile_templates_stay_literal_and_still_carry_the_link(template):
    assert render_confirmation(template, VALUES) == f"{template} https://notion.so/p1"


def test_values_are_inserted_once_never_expanded_again():
    assert render_confirmation("${url} {title}", VALUES) == "$https://notion.so/p1 Fix {url} copy"
    assert render_confirmation("{{url}} {url}", VALUES) == "{url} https://notion.so/p1"


def test_a_template_without_the_link_gets_it_appended_and_is_reported():
    assert (
        render_confirmation("Thanks! {title}", VALUES)
        == "Thanks! Fix {url} copy https://notion.so/p1"
    )
    assert any("{url}" in p for p in template_problems("Thanks! {title}"))


def test_problems_name_unknown_placeholders_and_oversized_templates():
    assert template_problems("{title} {url}") == []
    assert "{titel}" in template_problems("{titel} {url}")[0]
    assert render_confirmation("x" * 5000 + "{url}", VALUES).startswith("📋")
    assert template_problems("x" * 1001 + "{url}")
