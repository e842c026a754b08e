"""Parse a Figma notification email into what the figma step needs (one function, one error)."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from typing import Literal
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag
from pydantic import BaseModel, ConfigDict, Field

from figsync_figma.links import file_key_from_url

MAX_HTML_BYTES = 2 * 1024 * 1024
_SENDER_KEY = re.compile(r"comments-([A-Za-z0-9]{10,64})@email\.figma\.com", re.IGNORECASE)
_MENTION_COLOR = re.compile(r"color:\s*#007be5", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u034f\u00ad]")


class EmailParseError(ValueError):
    """The input is not something the parser can read (its only exception)."""


class QuotedComment(BaseModel):
    model_config = ConfigDict(frozen=True)

    author: str
    text: str
    mentions: list[str] = Field(default_factory=list)


class ParsedEmail(BaseModel):
    """What a Figma notification email says."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["mention", "reply", "other"]
    headline: str = ""
    file_key: str | None = None
    file_key_source: Literal["sender", "body", "link", "none"] = "none"
    file_name: str | None = None
    author: str | None = None
    comment_text: str = ""
    mentions: list[str] = Field(default_factory=list)
    earlier_comments: list[QuotedComment] = Field(default_factory=list)
    view_link: str | None = None
    tracking_links: list[str] = Field(default_factory=list)
    preview_image: str | None = None


def _clean(text: str) -> str:
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def _style(tag: Tag) -> str:
    return str(tag.get("style") or "")


def _headline(soup: BeautifulSoup) -> str:
    for p in soup.find_all("p"):
        style = _style(p).replace(" ", "").lower()
        if "font-size:24px" in style and "font-weight:bold" in style:
            return _clean(p.get_text(" "))
    return ""


def _file_name(soup: BeautifulSoup) -> str | None:
    for p in soup.find_all("p"):
        if "color:#808080" in _style(p).replace(" ", "").lower():
            name = _clean(p.get_text(" "))
            if name:
                return name
    return None


def _kind(headline: str) -> Literal["mention", "reply", "other"]:
    lowered = headline.lower()
    if "mentioned you" in lowered:
        return "mention"
    if "replied to" in lowered or "replied in" in lowered or "new reply" in lowered:
        return "reply"
    return "other"


def _thread_rows(soup: BeautifulSoup) -> list[QuotedComment | tuple[str, bool]]:
    """Walk the comment-thread table: author rows and text rows, with their opacity."""
    comments: list[tuple[str, str, list[str], bool]] = []
    author: str | None = None
    for row in soup.find_all("tr"):
        style = _style(row).replace(" ", "").lower()
        if "opacity:" not in style:
            continue
        current = "opacity:1" in style and "opacity:1." not in style
        bold = row.find("span", style=re.compile(r"font-weight:\s*bold", re.I))
        if bold is not None:
            author = _clean(bold.get_text(" "))
            continue
        body = row.find("div") or row.find("p")
        if body is None or author is None:
            continue
        mentions = [
            _clean(span.get_text(" "))
            for span in body.find_all("span", style=_MENTION_COLOR)
            if _clean(span.get_text(" ")).startswith("@")
        ]
        comments.append((author, _clean(body.get_text(" ")), mentions, current))
        author = None
    return comments  # type: ignore[return-value]


def _links(soup: BeautifulSoup) -> tuple[str | None, list[str]]:
    view = None
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        # The view link is kept whatever its host: the resolver's policy decides what may be
        # followed, so a forged host is refused there, with a reason.
        if view is None and "view in figma" in _clean(anchor.get_text(" ")).lower():
            view = href
        try:
            host = (urlsplit(href).hostname or "").lower()
        except ValueError:
            continue
        if (host == "figma.com" or host.endswith(".figma.com")) and href not in links:
            links.append(href)
    return view, links


def _preview(soup: BeautifulSoup) -> str | None:
    for img in soup.find_all("img", src=True):
        src = str(img["src"])
        if "api-cdn.figma.com" in src or img.get("alt") == "View the comment in the file":
            return src
    return None


def parse_email(html: str, sender: str | None = None) -> ParsedEmail:
    """Parse the HTML of a Figma notification (sender: the From address, when known)."""
    if not isinstance(html, str):
        raise EmailParseError("email.not_text: the email body must be text")
    if len(html.encode("utf-8", "surrogatepass")) > MAX_HTML_BYTES:
        raise EmailParseError(f"email.too_large: the HTML is over {MAX_HTML_BYTES} bytes")
    if not html.strip():
        raise EmailParseError("email.empty: the email has no HTML body")
    try:
        soup = BeautifulSoup(html, "lxml")
    except Exception as error:  # lxml rejects some byte soups outright
        raise EmailParseError(f"email.unreadable_html: {type(error).__name__}") from error

    headline = _headline(soup)
    kind = _kind(headline)
    rows = _thread_rows(soup)
    current = [r for r in rows if r[3]]  # type: ignore[index]
    earlier = [r for r in rows if not r[3]]  # type: ignore[index]
    latest = current[-1] if current else (rows[-1] if rows else None)
    view, links = _links(soup)

    key, source = None, "none"
    if sender and (match := _SENDER_KEY.search(sender)):
        key, source = match.group(1), "sender"
    elif match := _SENDER_KEY.search(soup.get_text(" ")):
        key, source = match.group(1), "body"
    else:
        for link in links:
            if found := file_key_from_url(link):
                key, source = found, "link"
                break

    return ParsedEmail(
        kind=kind if (latest or kind == "other") else "other",
        headline=headline,
        file_key=key,
        file_key_source=source,  # type: ignore[arg-type]
        file_name=_file_name(soup),
        author=latest[0] if latest else None,  # type: ignore[index]
        comment_text=latest[1] if latest else "",  # type: ignore[index]
        mentions=list(dict.fromkeys(latest[2])) if latest else [],  # type: ignore[index]
        earlier_comments=[QuotedComment(author=a, text=t, mentions=m) for a, t, m, _ in earlier],  # type: ignore[misc]
        view_link=view,
        tracking_links=links,
        preview_image=_preview(soup),
    )


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse a raw RFC 822 message: its HTML part, with the From address for the file key."""
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
    except Exception as error:
        raise EmailParseError(f"email.unreadable_mime: {type(error).__name__}") from error
    if not isinstance(message, EmailMessage):
        raise EmailParseError("email.unreadable_mime: not a message")
    try:
        part = message.get_body(preferencelist=("html",))
        html = part.get_content() if part is not None else None
        sender = str(message.get("From", "") or "")
    except Exception as error:
        raise EmailParseError(f"email.unreadable_mime: {type(error).__name__}") from error
    if not html:
        raise EmailParseError("email.no_html: the message has no text/html part")
    return parse_email(html, sender)
