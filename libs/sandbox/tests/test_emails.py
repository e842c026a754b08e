"""Generated notification emails keep the real Figma email's structure and markup."""

from __future__ import annotations

import email
import email.policy
import re
from html.parser import HTMLParser

import httpx
import pytest

from figsync_sandbox import (
    DEFAULT_FILE_KEY,
    DEFAULT_REPLY_COMMENT_ID,
    DEFAULT_ROOT_COMMENT_ID,
    FigmaState,
    comment_email_message,
    decode_upn,
    render_comment_email,
)
from figsync_sandbox.fixtures import figma_mention_email

FIXTURE_EMAIL = figma_mention_email()


class Skeleton(HTMLParser):
    """The sequence of start tags with their class attribute: the email's structure."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs).get("class") or ""))


def skeleton(html: str) -> list[tuple[str, str]]:
    parser = Skeleton()
    parser.feed(html)
    return parser.tags


@pytest.fixture
def figma() -> FigmaState:
    state = FigmaState()
    state.add_user("Maarten", user_id="99", email="maarten@example.com")
    state.add_user("testfigma", user_id="98")
    state.add_file("FXk3pQ9dLm2R", "Untitled")
    state.add_comment("FXk3pQ9dLm2R", "@testfigma this is task 2", author="Maarten", emit=False)
    return state


def test_mention_email_has_the_fixture_structure(figma):
    comment = figma.files["FXk3pQ9dLm2R"].comments[0]
    html = render_comment_email(figma, "FXk3pQ9dLm2R", comment.id)
    assert skeleton(html) == skeleton(FIXTURE_EMAIL.read_text("utf-8"))
    assert "{{" not in html


def test_mention_email_carries_author_file_and_mention_markup(figma):
    comment = figma.files["FXk3pQ9dLm2R"].comments[0]
    html = render_comment_email(figma, "FXk3pQ9dLm2R", comment.id)
    assert re.search(r"color:#808080;[^>]*> Untitled </p>", html)
    assert "> Maarten mentioned you in a comment </p>" in html
    assert '<span style="color: #007be5">@testfigma</span> this is task 2' in html
    assert "> Maarten </span>" in html
    assert 'alt="Avatar image of Maarten"' in html
    assert ' "@testfigma this is task 2" \u200c' in html
    assert "?height=500&width=800&mode=embed" in html  # raw "&", as in the real email


def test_links_are_click_tracking_redirects_to_the_comment(figma):
    comment = figma.files["FXk3pQ9dLm2R"].comments[0]
    html = render_comment_email(figma, "FXk3pQ9dLm2R", comment.id)
    links = re.findall(r'href="(https://click\.figma\.com/[^"]+)"', html)
    assert len(links) == 17
    view = re.search(r'btn-white2" universal="true" [^>]*href="([^"]+)"', html).group(1)
    assert view.startswith("https://click.figma.com/uni/ls/click?upn=u001.")
    target = decode_upn(view.split("upn=", 1)[1])
    assert target == f"https://www.figma.com/design/FXk3pQ9dLm2R/Untitled?node-id=0-1#{comment.id}"


async def test_sandbox_follows_its_own_tracking_links(sandbox_api):
    html = render_comment_email(
        sandbox_api.figma,
        DEFAULT_FILE_KEY,
        DEFAULT_ROOT_COMMENT_ID,
        click_base_url=sandbox_api.figma_url,
    )
    link = re.search(r'universal="true" href="([^"]+)"', html).group(1)
    assert link.startswith(sandbox_api.figma_url + "/uni/ls/click?upn=")
    async with httpx.AsyncClient() as client:
        resp = await client.get(link)
        assert resp.status_code == 302
        assert resp.headers["location"] == sandbox_api.figma.comment_url(
            DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID
        )
        for bad in ("", "u001.!!!", "u002.abc", "u001.aHR0cDovL2V4YW1wbGU="):
            resp = await client.get(sandbox_api.figma_url + "/ls/click", params={"upn": bad})
            assert resp.status_code in (302, 404)
            if bad != "u001.aHR0cDovL2V4YW1wbGU=":
                assert resp.status_code == 404


def test_reply_variant_shows_the_thread_with_the_reply_highlighted(sandbox_api):
    html = render_comment_email(
        sandbox_api.figma, DEFAULT_FILE_KEY, DEFAULT_REPLY_COMMENT_ID, variant="reply"
    )
    assert "> Anna Smith replied to a comment </p>" in html
    assert html.count('<tr style="opacity:0.5">') == 2
    assert html.count('<tr style="opacity:1">') == 2
    assert html.index("> Maarten </span>") < html.index("> Anna Smith </span>")
    assert '<span style="color: #007be5">@Anna Smith</span> can you review' in html


def test_hostile_comment_text_and_handles_are_escaped(sandbox_api):
    sandbox_api.figma.add_user('Eve "><img src=x>', user_id="66")
    comment = sandbox_api.figma.add_comment(
        DEFAULT_FILE_KEY, '<script>alert("x")</script> & @Anna Smith', author="66", emit=False
    )
    html = render_comment_email(sandbox_api.figma, DEFAULT_FILE_KEY, comment.id)
    assert "<script>" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;" in html
    assert 'alt="Avatar image of Eve &quot;&gt;&lt;img src=x&gt;"' in html


def test_bad_variant_is_refused(sandbox_api):
    with pytest.raises(ValueError, match="emails.bad_variant"):
        render_comment_email(
            sandbox_api.figma, DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID, variant="x"
        )


def test_rfc822_message_round_trips(figma):
    comment = figma.files["FXk3pQ9dLm2R"].comments[0]
    msg = comment_email_message(figma, "FXk3pQ9dLm2R", comment.id, to="test@example.com")
    parsed = email.message_from_bytes(bytes(msg), policy=email.policy.default)
    assert parsed["From"].addresses[0].addr_spec == "comments-FXk3pQ9dLm2R@email.figma.com"
    assert parsed["To"] == "test@example.com"
    assert parsed["Subject"] == "Maarten mentioned you in Untitled"
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(("html",)).get_content()
    assert html == render_comment_email(figma, "FXk3pQ9dLm2R", comment.id)
    text = parsed.get_body(("plain",)).get_content()
    assert "Maarten: @testfigma this is task 2" in text
    again = comment_email_message(figma, "FXk3pQ9dLm2R", comment.id, to="test@example.com")
    assert again["Message-ID"] == msg["Message-ID"]


async def test_email_over_the_control_api(sandbox_api):
    async with httpx.AsyncClient(base_url=sandbox_api.figma_url) as client:
        resp = await client.get(
            f"/_sandbox/files/{DEFAULT_FILE_KEY}/comments/{DEFAULT_REPLY_COMMENT_ID}/email",
            params={"variant": "reply"},
        )
        assert resp.status_code == 200 and "replied to a comment" in resp.text
        resp = await client.get(f"/_sandbox/files/{DEFAULT_FILE_KEY}/comments/404/email")
        assert resp.status_code == 404
