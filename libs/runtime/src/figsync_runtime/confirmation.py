"""The confirmation reply's text from a team's template (the notifier renders it; the
dashboard validates it when saved — one set of rules for both).

Templates are user input, so they are never given to str.format (which can reach
attributes and items: "{url.__class__}"). Only the placeholders below are replaced, in one
pass, so a value that itself contains "{url}" is not expanded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_TEMPLATE = "📋 Tracked in Notion: {title} — {url}"
PLACEHOLDERS = ("title", "url", "file_name", "file_url")
MAX_TEMPLATE_CHARS = 1000
MAX_MESSAGE_CHARS = 5000  # Figma refuses longer comments

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def template_problems(template: str) -> list[str]:
    """What is wrong with a team's template (empty when it can be used as written)."""
    problems = []
    if not template.strip():
        problems.append("the template is empty")
    if len(template) > MAX_TEMPLATE_CHARS:
        problems.append(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    unknown = sorted(
        {m.group(1) for m in _TOKEN.finditer(template) if m.group(1) is not None}
        - set(PLACEHOLDERS)
    )
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        problems.append(
            f"unknown placeholders {', '.join('{' + u + '}' for u in unknown)} (use {allowed})"
        )
    if "{url}" not in template:
        problems.append("the template has no {url}; the task link is added at the end")
    return problems


def render_confirmation(template: str | None, values: Mapping[str, str]) -> str:
    """The reply text: the team's template (or the default) with known placeholders filled.

    Unknown placeholders stay as written; a template without {url} gets the link appended
    (the link is how a retry recognises a reply already posted); an empty or oversized
    template falls back to the default."""
    text = template if template and template.strip() else DEFAULT_TEMPLATE
    if len(text) > MAX_TEMPLATE_CHARS:
        text = DEFAULT_TEMPLATE

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        return values.get(name, "") if name in PLACEHOLDERS else token

    message = _TOKEN.sub(replace, text).strip()
    url = values.get("url", "")
    if url and url not in message:
        message = f"{message} {url}"
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - len(url) - 2].rstrip() + "… " + url
    return message
