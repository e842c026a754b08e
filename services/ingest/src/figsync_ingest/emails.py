"""Inbound email in every accepted shape, parsed into one `InboundEmail`.

Parsers take the verified raw body and either return an `InboundEmail` or raise `Rejected`
(400 for bodies that cannot be read, 422 for readable ones that lack what a job needs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from figsync_ingest.errors import Rejected

MAX_HEADER_CHARS = 998


@dataclass(frozen=True)
class InboundEmail:
    """What every transport delivers: the fields of EmailReceived but the receipt time."""

    transport: str
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    html: str
    text: str | None
    sent_at: datetime | None


def malformed(message: str) -> Rejected:
    return Rejected(400, "ingest.malformed_body", message)


def invalid(code: str, message: str) -> Rejected:
    return Rejected(422, code, message)


def _clean_header(value: object) -> str:
    text = str(value or "")
    return " ".join(text.replace("\x00", "").split())


def message_id_of(value: object) -> str:
    """A Message-ID without angle brackets or folding; 422 when absent or absurd."""
    cleaned = _clean_header(value).strip().strip("<>").strip()
    if not cleaned:
        raise invalid(
            "ingest.missing_message_id",
            "the email has no Message-ID; figsync derives the job from it",
        )
    if len(cleaned) > MAX_HEADER_CHARS:
        raise invalid("ingest.bad_message_id", "the Message-ID is longer than 998 characters")
    return cleaned


def addresses(values: Iterable[object]) -> tuple[str, ...]:
    """The e-mail addresses in address-list header values, in order, without repeats."""
    found: dict[str, None] = {}
    for _, address in getaddresses([_clean_header(v) for v in values if v]):
        if "@" in address:
            found.setdefault(address.strip(), None)
    return tuple(found)


def _sender(value: object) -> str:
    sender = _clean_header(value)
    if not sender or "@" not in sender:
        raise invalid("ingest.missing_sender", "the email has no From address")
    if len(sender) > MAX_HEADER_CHARS:
        raise invalid("ingest.bad_sender", "the From header is longer than 998 characters")
    return sender


def _recipients(values: Iterable[object]) -> tuple[str, ...]:
    found = addresses(values)
    if not found:
        raise invalid("ingest.missing_recipient", "the email has no recipient address")
    return found


def _date(value: object) -> datetime | None:
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        try:
            parsed = parsedate_to_datetime(_clean_header(value)) if value else None
        except (TypeError, ValueError, IndexError):
            parsed = None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# -- the seed's JSON -------------------------------------------------------------------


class SeedEmail(BaseModel):
    """`{from, to, subject, html, text?, timestamp, messageId}` as the seed design posts it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_max_length=4_000_000)

    sender: str = Field(alias="from", min_length=1, max_length=MAX_HEADER_CHARS)
    to: str | list[str] = Field(min_length=1)
    subject: str = Field(default="", max_length=MAX_HEADER_CHARS)
    html: str
    text: str | None = None
    timestamp: datetime | None = None
    message_id: str = Field(alias="messageId", min_length=1, max_length=MAX_HEADER_CHARS)


def json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise malformed(f"the body is not valid JSON ({what} expected)") from None
    if not isinstance(data, dict):
        raise malformed(f"the body must be a JSON object ({what})")
    return data


def first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def parse_seed_json(body: bytes) -> InboundEmail:
    data = json_object(body, "{from, to, subject, html, text?, timestamp, messageId}")
    try:
        seed = SeedEmail.model_validate(data)
    except ValidationError as error:
        raise invalid("ingest.invalid_email", first_error(error)) from None
    to = [seed.to] if isinstance(seed.to, str) else seed.to
    return InboundEmail(
        transport="json",
        message_id=message_id_of(seed.message_id),
        sender=_sender(seed.sender),
        recipients=_recipients(to),
        subject=_clean_header(seed.subject),
        html=seed.html,
        text=seed.text,
        sent_at=_date(seed.timestamp),
    )


# -- raw RFC 822 ------------------------------------------------------------------------


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _bodies(message: EmailMessage) -> tuple[str, str | None]:
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    html = _text_of(html_part) if html_part is not None else ""
    text = _text_of(text_part) if text_part is not None else None
    return html, text


def parse_mime(body: bytes, transport: str = "mime") -> InboundEmail:
    """A raw RFC 822 message: multipart/alternative, quoted-printable, base64, any charset."""
    if not body.strip():
        raise malformed("the body is empty (a raw RFC 822 message expected)")
    try:
        message = BytesParser(policy=policy.default).parsebytes(body)
        assert isinstance(message, EmailMessage)
        if not message.keys():
            raise malformed("the body has no RFC 822 headers")
        html, text = _bodies(message)
        return InboundEmail(
            transport=transport,
            message_id=message_id_of(message.get("Message-ID")),
            sender=_sender(message.get("From")),
            recipients=_recipients(message.get_all("To", []) + message.get_all("Cc", [])),
            subject=_clean_header(message.get("Subject")),
            html=html,
            text=text,
            sent_at=_date(getattr(message.get("Date"), "datetime", None) or None),
        )
    except Rejected:
        raise
    except Exception as error:  # the email package raises many kinds on hostile input
        raise malformed(
            f"the body is not a readable RFC 822 message ({type(error).__name__})"
        ) from None


# -- forms (Mailgun, SendGrid) ----------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    value: bytes
    charset: str | None = None
    filename: str | None = None

    def text(self, charset: str | None = None) -> str:
        for candidate in (charset, self.charset, "utf-8"):
            if candidate:
                try:
                    return self.value.decode(candidate)
                except (LookupError, UnicodeDecodeError):
                    continue
        return self.value.decode("utf-8", "replace")


def parse_form(media_type: str, content_type: str, body: bytes) -> dict[str, FormField]:
    """Fields of an urlencoded or multipart/form-data body (first value of a repeated name)."""
    fields: dict[str, FormField] = {}
    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
        except (UnicodeDecodeError, ValueError):
            raise malformed("the form body is not valid urlencoded UTF-8") from None
        for name, value in pairs:
            fields.setdefault(name, FormField(value.encode(), "utf-8"))
        return fields
    try:
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        form = BytesParser(policy=policy.compat32).parsebytes(head + body)
        if not form.is_multipart() or not form.get_boundary():
            raise malformed("the multipart/form-data body has no boundary or no parts")
        for part in form.get_payload():
            if not isinstance(part, Message):
                continue
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or not name:
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = b""
            filename = part.get_filename()
            fields.setdefault(name, FormField(payload, part.get_content_charset(), filename))
    except Rejected:
        raise
    except Exception as error:
        raise malformed(
            f"the multipart/form-data body is unreadable ({type(error).__name__})"
        ) from None
    return fields


def _field(fields: Mapping[str, FormField], name: str, charset: str | None = None) -> str:
    found = fields.get(name)
    return found.text(charset) if found and found.filename is None else ""


def _json_field(fields: Mapping[str, FormField], name: str) -> Any:
    raw = _field(fields, name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise malformed(f"the form field {name!r} is not valid JSON") from None


def parse_mailgun(fields: Mapping[str, FormField]) -> InboundEmail:
    """A Mailgun route's forward(): parsed fields, or `body-mime` for a raw-MIME route."""
    if "body-mime" in fields:
        return parse_mime(fields["body-mime"].value, transport="mailgun")
    headers: dict[str, str] = {}
    raw_headers = _json_field(fields, "message-headers")
    raw_headers = [] if raw_headers is None else raw_headers
    if not isinstance(raw_headers, list):
        raise malformed("message-headers must be a JSON list of [name, value] pairs")
    for pair in raw_headers:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            headers.setdefault(pair[0].lower(), pair[1])
    html = _field(fields, "body-html") or _field(fields, "stripped-html")
    text = _field(fields, "body-plain") or None
    return InboundEmail(
        transport="mailgun",
        message_id=message_id_of(headers.get("message-id") or _field(fields, "Message-Id")),
        sender=_sender(_field(fields, "from") or headers.get("from") or _field(fields, "sender")),
        recipients=_recipients([_field(fields, "recipient"), headers.get("to", "")]),
        subject=_clean_header(_field(fields, "subject") or headers.get("subject")),
        html=html,
        text=text,
        sent_at=_date(headers.get("date") or _field(fields, "Date")),
    )


def parse_sendgrid(fields: Mapping[str, FormField]) -> InboundEmail:
    """SendGrid Inbound Parse: parsed fields (with `charsets`), or `email` in raw mode."""
    if "email" in fields:
        return parse_mime(fields["email"].value, transport="sendgrid")
    charsets = _json_field(fields, "charsets")
    charsets = {} if charsets is None else charsets
    if not isinstance(charsets, dict):
        raise malformed("charsets must be a JSON object of field name to charset")

    def field(name: str) -> str:
        charset = charsets.get(name)
        return _field(fields, name, charset if isinstance(charset, str) else None)

    headers = HeaderParser(policy=policy.compat32).parsestr(field("headers"))
    envelope = _json_field(fields, "envelope")
    envelope_to = envelope.get("to") if isinstance(envelope, dict) else None
    if isinstance(envelope_to, str):
        envelope_to = [envelope_to]
    if not isinstance(envelope_to, list):
        envelope_to = []
    return InboundEmail(
        transport="sendgrid",
        message_id=message_id_of(headers.get("Message-ID")),
        sender=_sender(field("from") or headers.get("From")),
        recipients=_recipients([str(a) for a in envelope_to] + [field("to") or headers.get("To")]),
        subject=_clean_header(field("subject") or headers.get("Subject")),
        html=field("html"),
        text=field("text") or None,
        sent_at=_date(headers.get("Date")),
    )


# -- Postmark JSON ----------------------------------------------------------------------


class PostmarkAddress(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Email: str = ""


class PostmarkHeader(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Name: str
    Value: str


class PostmarkInbound(BaseModel):
    """The fields of Postmark's inbound webhook that a job needs."""

    model_config = ConfigDict(extra="ignore")

    From: str = ""
    FromFull: PostmarkAddress | None = None
    To: str = ""
    ToFull: list[PostmarkAddress] = Field(default_factory=list)
    Cc: str = ""
    OriginalRecipient: str = ""
    Subject: str = ""
    Date: str = ""
    MessageID: str = ""
    TextBody: str = ""
    HtmlBody: str = ""
    Headers: list[PostmarkHeader] = Field(default_factory=list)


def parse_postmark(body: bytes) -> InboundEmail:
    data = json_object(body, "Postmark's inbound webhook JSON")
    try:
        inbound = PostmarkInbound.model_validate(data)
    except ValidationError as error:
        raise invalid("ingest.invalid_email", first_error(error)) from None
    headers = {h.Name.lower(): h.Value for h in reversed(inbound.Headers)}
    # Postmark's MessageID is its own id; the sender's Message-ID header is the one that
    # the same email carries through every other transport.
    message_id = headers.get("message-id") or inbound.MessageID
    sender = inbound.From
    if inbound.FromFull and inbound.FromFull.Email and "@" not in sender:
        sender = inbound.FromFull.Email
    return InboundEmail(
        transport="postmark",
        message_id=message_id_of(message_id),
        sender=_sender(sender),
        recipients=_recipients(
            [inbound.OriginalRecipient, *(a.Email for a in inbound.ToFull), inbound.To]
        ),
        subject=_clean_header(inbound.Subject),
        html=inbound.HtmlBody,
        text=inbound.TextBody or None,
        sent_at=_date(inbound.Date or headers.get("date")),
    )
