"""Figma comment notification emails, built on the markup of a real "mentioned you" email.

The HTML template is the fixture email (fixtures/email/figma-mention.html) with its dynamic
parts replaced: the preheader, the click-tracking links, the grey file name, the headline and
the comment rows (avatar, bold author, text with mentions as `<span style="color: #007be5">`).
URLs in attributes are written unescaped, as in the real email (they never hold quotes).
The "reply" variant shows the whole thread up to the reply; earlier comments are dimmed
(`opacity:0.5`), the comment that caused the email has `opacity:1`.
"""

from __future__ import annotations

import hashlib
import html
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from importlib import resources
from urllib.parse import quote

from figsync_sandbox.clicks import CLICK_BASE_URL, click_link, encode_upn
from figsync_sandbox.figma import FigmaComment, FigmaState, FigmaUser

VARIANTS = ("mention", "reply")
MENTION_STYLE = "color: #007be5"
AVATAR_DEFAULT = "https://s3-alpha.figma.com/static/user_m_v2.png"
SOCIAL = {
    "link_home": "https://www.figma.com/",
    "link_ios": "https://apps.apple.com/app/figma/id1152747299",
    "link_android": "https://play.google.com/store/apps/details?id=com.figma.mirror",
    "link_social_figma": "https://www.figma.com/",
    "link_social_x": "https://x.com/figma",
    "link_social_instagram": "https://www.instagram.com/figma/",
    "link_social_youtube": "https://www.youtube.com/figmadesign",
    "link_social_linkedin": "https://www.linkedin.com/company/figma",
}


def _template(name: str) -> str:
    return resources.files("figsync_sandbox").joinpath("templates", name).read_text("utf-8")


def sender_address(file_key: str) -> str:
    """The From address of Figma's comment emails: comments-<FILEKEY>@email.figma.com."""
    return f"comments-{file_key}@email.figma.com"


def avatar_url(user: FigmaUser) -> str:
    """A Gravatar URL as Figma's emails use, falling back to Figma's default avatar."""
    digest = hashlib.md5(user.email.strip().lower().encode()).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?size=240&default={quote(AVATAR_DEFAULT, '')}"


def text(value: str) -> str:
    """Escape for an HTML text node (quotes stay literal, as in Figma's emails)."""
    return html.escape(value, quote=False)


def comment_body_html(comment: FigmaComment, users: dict[str, FigmaUser]) -> str:
    """The comment text as the email renders it: escaped, mentions in blue spans."""
    parts = []
    for frag in comment.fragments:
        if "mention" in frag:
            user = users.get(frag["mention"])
            handle = text("@" + (user.handle if user else frag["mention"]))
            parts.append(f'<span style="{MENTION_STYLE}">{handle}</span>')
        else:
            parts.append(text(frag.get("text", "")).replace("\n", "<br>"))
    return "".join(parts)


def headline(author: str, variant: str) -> str:
    """The bold line above the thread."""
    if variant == "reply":
        return f"{author} replied to a comment"
    return f"{author} mentioned you in a comment"


def subject(author: str, file_name: str, variant: str) -> str:
    """The Subject header (an approximation of Figma's wording)."""
    if variant == "reply":
        return f"{author} replied to a comment in {file_name}"
    return f"{author} mentioned you in {file_name}"


def render_comment_email(
    state: FigmaState,
    file_key: str,
    comment_id: str,
    *,
    variant: str = "mention",
    click_base_url: str = CLICK_BASE_URL,
) -> str:
    """The HTML of the notification email Figma sends for a comment ("mention" or "reply")."""
    if variant not in VARIANTS:
        raise ValueError(f"emails.bad_variant: variant must be one of {VARIANTS}")
    with state.lock:
        file = state.files[file_key]
        comment = state.comment(file_key, comment_id)
        if variant == "reply":
            thread = state.thread(file_key, comment_id)
            shown = thread[: thread.index(comment) + 1]
        else:
            shown = [comment]
        comment_url = state.comment_url(file_key, comment_id)
        plain = comment.message(state.users)
        rows = []
        row_template = _template("comment_row.html")
        for item in shown:
            body = "                            " + comment_body_html(item, state.users) + "\n"
            rows.append(
                row_template.replace("{{opacity}}", "1" if item is comment else "0.5")
                .replace("{{avatar_url}}", avatar_url(item.user))
                .replace(
                    'alt="Avatar image of {{author}}"',
                    f'alt="Avatar image of {html.escape(item.user.handle, quote=True)}"',
                )
                .replace("{{author}}", text(item.user.handle))
                .replace("{{body}}", body)
            )
        author = comment.user.handle
        file_name = file.name
        file_url = file.url

    def link(target: str, universal: bool = False) -> str:
        return click_link(target, universal=universal, base_url=click_base_url)

    filler = _template("preheader_filler.txt")
    values = {
        "preheader": text(f' "{plain}"') + filler,
        "file_name": text(file_name),
        "headline": text(headline(author, variant)),
        "thumbnail_url": (
            f"https://api-cdn.figma.com/resize/images/{file_key}/{comment_id}"
            "?height=500&width=800&mode=embed&commentx=137&commenty=107&fb"
        ),
        "link_file": link(file_url),
        "link_comment_image": link(comment_url, universal=True),
        "link_view": link(comment_url, universal=True),
        "link_unsubscribe": link(f"{file_url}?notification-settings=1"),
        "open_pixel": f"{click_base_url.rstrip('/')}/wf/open?upn={encode_upn(comment_url)}",
        "comments": "".join(rows),
    }
    values.update({name: link(target) for name, target in SOCIAL.items()})
    out = _template("comment_email.html")
    for name, value in values.items():
        out = out.replace("{{" + name + "}}", value)
    return out


def render_comment_text(state: FigmaState, file_key: str, comment_id: str, variant: str) -> str:
    """The text/plain alternative of the email."""
    with state.lock:
        comment = state.comment(file_key, comment_id)
        lines = [
            headline(comment.user.handle, variant),
            state.files[file_key].name,
            "",
            f"{comment.user.handle}: {comment.message(state.users)}",
            "",
            f"View in Figma: {state.comment_url(file_key, comment_id)}",
        ]
    return "\n".join(lines) + "\n"


def comment_email_message(
    state: FigmaState,
    file_key: str,
    comment_id: str,
    *,
    variant: str = "mention",
    to: str = "you@example.com",
    click_base_url: str = CLICK_BASE_URL,
) -> EmailMessage:
    """The notification as an RFC 822 message (multipart/alternative: text and HTML).

    The Message-ID is derived from file, comment, variant and recipient, so rendering the
    same notification twice gives a duplicate delivery.
    """
    html_body = render_comment_email(
        state, file_key, comment_id, variant=variant, click_base_url=click_base_url
    )
    with state.lock:
        comment = state.comment(file_key, comment_id)
        author = comment.user.handle
        file_name = state.files[file_key].name
        sent = comment.created_at
    msg = EmailMessage()
    msg["From"] = formataddr((f"{author} (via Figma)", sender_address(file_key)))
    msg["Reply-To"] = sender_address(file_key)
    msg["To"] = to
    msg["Subject"] = subject(author, file_name, variant)
    msg["Date"] = format_datetime(sent)
    digest = hashlib.sha256(f"{file_key}/{comment_id}/{variant}/{to}".encode()).hexdigest()
    msg["Message-ID"] = f"<{digest[:32]}@email.figma.com>"
    msg.set_content(render_comment_text(state, file_key, comment_id, variant))
    msg.add_alternative(html_body, subtype="html")
    return msg
