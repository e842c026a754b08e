"""The parser against the real Figma email and variants written from it."""

import email
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from figsync_figma.parse import EmailParseError, parse_email, parse_message
from figsync_sandbox import DEFAULT_FILE_KEY, DEFAULT_ROOT_COMMENT_ID
from figsync_sandbox.emails import comment_email_message, render_comment_email
from figsync_sandbox.figma import FigmaState
from figsync_sandbox.fixtures import figma_mention_email

pytestmark = pytest.mark.unit

REAL = figma_mention_email().read_text()


def test_the_real_figma_email_parses_to_the_right_fields():
    parsed = parse_email(REAL)
    assert parsed.kind == "mention"
    assert parsed.headline == "Maarten mentioned you in a comment"
    assert parsed.file_name == "Untitled"
    assert parsed.author == "Maarten"
    assert parsed.comment_text == "@testfigma this is task 2"
    assert parsed.mentions == ["@testfigma"]
    assert parsed.earlier_comments == []
    assert parsed.view_link.startswith("https://click.figma.com/uni/ls/click?upn=u001.")
    assert all("figma.com" in link for link in parsed.tracking_links)
    assert len(parsed.tracking_links) >= 5
    assert parsed.preview_image.startswith("https://api-cdn.figma.com/resize/images/")
    assert parsed.file_key is None and parsed.file_key_source == "none"


def test_the_file_key_comes_from_the_sender_first():
    parsed = parse_email(
        REAL, '"Maarten (via Figma)" <comments-AbCdEf0123456789XyZ@email.figma.com>'
    )
    assert (parsed.file_key, parsed.file_key_source) == ("AbCdEf0123456789XyZ", "sender")


@pytest.fixture
def state():
    figma = FigmaState()
    figma.add_user("Zoë O'Brien-Smith")
    figma.add_user("dev.team")
    return figma


def test_a_reply_carries_its_text_without_the_quoted_thread(state):
    reply = state.add_comment(DEFAULT_FILE_KEY, "@Anna Smith agreed, shipping it",
                              author="Maarten", parent_id=DEFAULT_ROOT_COMMENT_ID)  # fmt: skip
    parsed = parse_email(render_comment_email(state, DEFAULT_FILE_KEY, reply.id, variant="reply"))
    assert parsed.kind == "reply"
    assert parsed.comment_text == "@Anna Smith agreed, shipping it"
    assert parsed.mentions == ["@Anna Smith"]
    assert [c.author for c in parsed.earlier_comments] == ["Maarten", "Anna Smith"]
    assert "can you review" in parsed.earlier_comments[0].text


def test_several_mentions_with_spaces_dots_and_dashes(state):
    c = state.add_comment(
        DEFAULT_FILE_KEY, "@Anna Smith and @dev.team and @Zoë O'Brien-Smith: look"
    )
    parsed = parse_email(render_comment_email(state, DEFAULT_FILE_KEY, c.id))
    assert parsed.mentions == ["@Anna Smith", "@dev.team", "@Zoë O'Brien-Smith"]


def test_emoji_rtl_and_html_entities_survive(state):
    text = '@Anna Smith 🎨 שלום <b>bold?</b> & "quotes" — مرحبا'
    c = state.add_comment(DEFAULT_FILE_KEY, text)
    parsed = parse_email(render_comment_email(state, DEFAULT_FILE_KEY, c.id))
    assert parsed.comment_text == text


def test_very_long_text(state):
    text = "@Anna Smith " + "word " * 3000
    c = state.add_comment(DEFAULT_FILE_KEY, text.strip())
    parsed = parse_email(render_comment_email(state, DEFAULT_FILE_KEY, c.id))
    assert parsed.comment_text == text.strip()


def test_a_raw_message_gives_the_key_from_its_sender(state):
    c = state.add_comment(DEFAULT_FILE_KEY, "@Anna Smith check the spacing")
    raw = comment_email_message(state, DEFAULT_FILE_KEY, c.id).as_bytes()
    parsed = parse_message(raw)
    assert (parsed.file_key, parsed.file_key_source) == (DEFAULT_FILE_KEY, "sender")
    assert parsed.comment_text == "@Anna Smith check the spacing"


def test_a_forwarded_message_finds_the_key_in_the_quoted_header(state):
    c = state.add_comment(DEFAULT_FILE_KEY, "@Anna Smith forwarded")
    original = render_comment_email(state, DEFAULT_FILE_KEY, c.id)
    forwarded = (
        "<div>---------- Forwarded message ---------<br>From: Maarten (via Figma) "
        f"&lt;comments-{DEFAULT_FILE_KEY}@email.figma.com&gt;<br>Subject: Fwd</div>"
        f"<blockquote>{original}</blockquote>"
    )
    parsed = parse_email(forwarded, "alice@company.example")
    assert (parsed.file_key, parsed.file_key_source) == (DEFAULT_FILE_KEY, "body")
    assert parsed.comment_text == "@Anna Smith forwarded"


def test_a_sender_without_the_key_falls_back_to_links(state):
    c = state.add_comment(DEFAULT_FILE_KEY, "@Anna Smith no sender")
    html = render_comment_email(state, DEFAULT_FILE_KEY, c.id).replace(
        "click.figma.com/ls/click", "www.figma.com/design/" + DEFAULT_FILE_KEY + "/x?"
    )
    parsed = parse_email(html, "Figma <no-reply@figma.com>")
    assert (parsed.file_key, parsed.file_key_source) == (DEFAULT_FILE_KEY, "link")


def test_non_comment_figma_mail_is_other():
    invite = REAL.replace("Maarten mentioned you in a comment", "Maarten invited you to a file")
    invite = invite.replace("opacity:1", "display:none")
    assert parse_email(invite).kind == "other"
    assert parse_email("<html><body><p>Your Figma digest</p></body></html>").kind == "other"


def test_mime_with_quoted_printable_and_a_charset(state):
    c = state.add_comment(DEFAULT_FILE_KEY, "@Anna Smith café ünïcode")
    html = render_comment_email(state, DEFAULT_FILE_KEY, c.id)
    message = EmailMessage()
    message["From"] = f"Figma <comments-{DEFAULT_FILE_KEY}@email.figma.com>"
    message["Subject"] = "x"
    message.set_content("plain")
    message.add_alternative(html.encode("latin-1", "ignore").decode("latin-1"), subtype="html",
                            charset="iso-8859-1", cte="quoted-printable")  # fmt: skip
    parsed = parse_message(message.as_bytes())
    assert parsed.comment_text == "@Anna Smith café ünïcode"


@pytest.mark.parametrize("bad", ["", "   ", "x" * (3 * 1024 * 1024)])
def test_empty_and_oversized_bodies_are_parse_errors(bad):
    with pytest.raises(EmailParseError):
        parse_email(bad)


def test_a_message_without_html_is_a_parse_error():
    message = email.message_from_string("From: a@b.c\n\nplain only", policy=policy.default)
    with pytest.raises(EmailParseError, match="no_html"):
        parse_message(message.as_bytes())


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
          deadline=None)  # fmt: skip
@given(st.one_of(st.text(max_size=3000), st.binary(max_size=3000).map(lambda b: b.decode("latin-1")),
                 st.builds(lambda a, b: REAL[: len(REAL) * a // 100] + b,
                           st.integers(0, 100), st.text(max_size=200))))  # fmt: skip
def test_fuzzed_html_raises_only_the_parsers_error(html):
    try:
        parse_email(html, "x")
    except EmailParseError:
        pass


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.binary(max_size=4000))
def test_fuzzed_mime_raises_only_the_parsers_error(raw):
    try:
        parse_message(raw)
    except EmailParseError:
        pass
