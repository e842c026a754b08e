"""The Anthropic Messages API: deterministic answers, tool use that fits the tool's schema.

What the sandbox "model" answers is a pure function of the request:
- the *source text* is the text of the last user message; if it contains an XML-style block
  (`<thread>…</thread>`, `<comment>…</comment>`, any tag), the inner text of the first such
  block is used, tags stripped;
- a string property named like a title (`title`, `name`, `subject`, `headline`) gets the
  first non-empty line of the source text, cut to the schema's maxLength (default 80);
- a property named like a summary (`summary`, `description`, `details`) gets the source text
  with whitespace collapsed, cut to maxLength (default 500);
- an enum takes the first enum value that occurs as a word in the source text, else one chosen
  by a hash of the source text; arrays of strings get sentences of the source text;
- everything else is generated from the JSON schema, seeded by a hash of the source text.

The "model" also follows a few directives, wherever it reads them: in the text of any
`<tag>…</tag>` block of the system prompt (where an operator's instructions sit) and in the
source text (where a participant's text sits). It is deliberately gullible — a real model may
do the same — so a caller's own checks are what keep its answers in shape:
- `prefix titles with "X"` (or `'X'`, or one word): title-like strings start with X;
- `write in <language>` (also answer / reply / respond; English, German, French, Spanish,
  Dutch, Italian, Portuguese, Japanese, …): strings of title-, summary- and list-like
  properties start with `[<code>] ` (`[de] `), a marker a test can see;
- `set <property> to <value>` (a word, or a "quoted" text): that top-level property gets the
  value verbatim, inside its enum or not (an array gets `[value]`);
- `ignore the schema`: the tool input is `{"reply": <source text>}`, none of the schema's
  properties.
Later directives win (the source text's come after the system prompt's).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from figsync_sandbox import control

DEFAULT_ANTHROPIC_KEY = "sk-ant-sandbox-anthropic-key"
TITLE_NAMES = ("title", "name", "subject", "headline")
SUMMARY_NAMES = ("summary", "description", "details", "body", "text", "reason")
TAG_BLOCK = re.compile(r"<([A-Za-z][\w-]*)(?:\s[^>]*)?>(.*?)</\1>", re.S)
TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^>]*)?>")

ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


class InvalidRequest(Exception):
    """A 400 invalid_request_error with the API's message."""


def source_text(text: str) -> str:
    """The text the answer is derived from (see the module docstring)."""
    match = TAG_BLOCK.search(text)
    inner = match.group(2) if match else text
    return TAG.sub("", inner).strip()


def _seed(text: str, salt: str = "") -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256((salt + text).encode()).digest()[:8], "big"))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def _sentences(text: str) -> list[str]:
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    return parts or [text.strip() or "Follow up"]


_NUMBERED = re.compile(r"(?:^|\s)\(?([1-9])[.)]\s+")


def requests_in(text: str) -> list[str]:
    """The separate requests of a thread, numbered as people number them ("1) … 2) …")."""
    parts = _NUMBERED.split(text)
    found = [p.strip(" \n;,.") for p in parts[2::2] if p.strip(" \n;,.")]
    return found if len(found) > 1 else []


def several_tasks(tool_input: Any, schema: dict[str, Any], source: str) -> Any:
    """A tool that may hold several tasks (a `tasks` array of objects) gets one per numbered
    request of the thread, when it has two or more; otherwise none (one task)."""
    tasks = (schema.get("properties") or {}).get("tasks")
    if not isinstance(tasks, dict) or not isinstance(tool_input, dict):
        return tool_input
    item = tasks.get("items") or {}
    found = requests_in(source)[: tasks.get("maxItems", 5)]
    return {**tool_input, "tasks": [SchemaFaker(r, item).value(item) for r in found]}


class SchemaFaker:
    """Generates a value that fits a JSON schema, deterministically from a source text."""

    def __init__(self, text: str, root: dict[str, Any]) -> None:
        self.text = text
        self.root = root
        self.rng = _seed(text)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            return self.resolve(node)
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                merged = dict(schema)
                merged.pop(key)
                merged.update(self.resolve(options[0]))
                return merged
        return schema

    def value(self, schema: dict[str, Any], name: str = "") -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.enum(schema["enum"], name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if kind == "object":
            props = schema.get("properties", {})
            return {key: self.value(sub, key) for key, sub in props.items()}
        if kind == "array":
            return self.array(schema, name)
        if kind == "integer" or kind == "number":
            low = schema.get("minimum", 0)
            high = schema.get("maximum", max(low, 0) + 10)
            number = self.rng.randint(math.ceil(low), math.floor(high))
            return number if kind == "integer" else float(number)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(schema, name)

    def enum(self, options: list[Any], name: str) -> Any:
        words = set(re.findall(r"[a-z0-9_-]+", self.text.lower()))
        for option in options:
            if isinstance(option, str) and option.lower() in words:
                return option
        return options[_seed(self.text, name).randrange(len(options))]

    def string(self, schema: dict[str, Any], name: str) -> str:
        key = name.lower()
        fmt = schema.get("format")
        if fmt in ("uri", "url"):
            value = f"https://example.com/{hashlib.sha256(self.text.encode()).hexdigest()[:12]}"
        elif fmt == "email":
            value = "someone@example.com"
        elif fmt == "date-time":
            value = "2026-01-05T09:30:00Z"
        elif fmt == "date":
            value = "2026-01-05"
        elif any(t in key for t in TITLE_NAMES):
            first = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "Untitled")
            value = _cut(re.sub(r"\s+", " ", first), schema.get("maxLength", 80))
        elif any(t in key for t in SUMMARY_NAMES):
            value = _cut(re.sub(r"\s+", " ", self.text), schema.get("maxLength", 500))
        else:
            sentences = _sentences(self.text)
            value = sentences[self.rng.randrange(len(sentences))]
        value = _cut(value, schema.get("maxLength", 10_000))
        min_length = schema.get("minLength", 0)
        return value + "." * max(0, min_length - len(value))

    def array(self, schema: dict[str, Any], name: str) -> list[Any]:
        items = self.resolve(schema.get("items", {"type": "string"}))
        low = schema.get("minItems", 1)
        high = schema.get("maxItems", max(low, 3))
        count = max(low, min(high, 1 + self.rng.randrange(3)))
        if items.get("type", "string") == "string" and "enum" not in items:
            sentences = _sentences(self.text)
            limit = items.get("maxLength", 200)
            out = [_cut(sentences[i % len(sentences)], limit) for i in range(count)]
            return out
        return [self.value(items, name) for _ in range(count)]


LANGUAGES = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "spanish": "es",
    "dutch": "nl", "italian": "it", "portuguese": "pt", "japanese": "ja", "polish": "pl",
    "swedish": "sv", "danish": "da",
}  # fmt: skip
_PREFIX = re.compile(
    r"\bprefix (?:the |every |each |all )?(?:task )?titles? with "
    r"(?:\"([^\"\n]{1,40})\"|'([^'\n]{1,40})'|([^\s.,;]{1,40}))",
    re.I,
)
_LANGUAGE = re.compile(
    r"\b(?:write|answer|reply|respond)(?: everything| the tasks?)? in ("
    + "|".join(LANGUAGES)
    + r")\b",
    re.I,
)
_SET = re.compile(
    r"\bset (?:the )?([A-Za-z_]{1,40}) to (?:\"([^\"\n]{0,200})\"|([\w-]{1,40}))", re.I
)
_IGNORE_SCHEMA = re.compile(r"\bignore (?:the|your|its|any) (?:tool'?s? )?schema\b", re.I)


@dataclass
class Directives:
    """What the texts the fake model reads tell it to do (see the module docstring)."""

    title_prefix: str = ""
    language: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    ignore_schema: bool = False

    @classmethod
    def read(cls, texts: list[str]) -> Directives:
        found = cls()
        for text in texts:
            for match in _PREFIX.finditer(text):
                quoted = match.group(1) or match.group(2)
                found.title_prefix = quoted if quoted is not None else match.group(3) + " "
            for match in _LANGUAGE.finditer(text):
                found.language = LANGUAGES[match.group(1).lower()]
            for match in _SET.finditer(text):
                value = match.group(2) if match.group(2) is not None else match.group(3)
                found.values[match.group(1).lower()] = value
            found.ignore_schema = found.ignore_schema or bool(_IGNORE_SCHEMA.search(text))
        return found

    def apply(self, answer: Any, schema: dict[str, Any], source: str) -> Any:
        """The tool input as the directives change it."""
        if self.ignore_schema:
            return {"reply": re.sub(r"\s+", " ", source).strip()}
        if not isinstance(answer, dict):
            return answer
        props = schema.get("properties", {})
        out = dict(answer)
        for name, value in out.items():
            sub = props.get(name, {})
            key = name.lower()
            wordy = any(t in key for t in TITLE_NAMES + SUMMARY_NAMES)
            marker = f"[{self.language}] " if self.language else ""
            if isinstance(value, str) and wordy:
                if any(t in key for t in TITLE_NAMES):
                    value = self.title_prefix + marker + value
                else:
                    value = marker + value
                out[name] = _cut(value, sub.get("maxLength", 10_000))
            elif isinstance(value, list) and marker:
                limit = sub.get("items", {}).get("maxLength", 10_000)
                out[name] = [_cut(marker + v, limit) if isinstance(v, str) else v for v in value]
        by_lower = {name.lower(): name for name in props}
        for wanted, value in self.values.items():
            if wanted in by_lower:
                name = by_lower[wanted]
                out[name] = [value] if props[name].get("type") == "array" else value
        return out


def instruction_texts(system_text: str) -> list[str]:
    """Where an operator's instructions sit in a system prompt: its tag blocks' text."""
    return [TAG.sub("", m.group(2)) for m in TAG_BLOCK.finditer(system_text)]


def count_tokens(text: str) -> int:
    """A rough token count: about four characters per token."""
    return max(1, math.ceil(len(text) / 4))


class AnthropicState(control.ServerState):
    """Accepted API keys and the messages answered so far."""

    name = "anthropic"
    max_body_bytes = 32_000_000

    def __init__(self, *, api_keys: list[str] | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        self.default_keys = list(api_keys or [DEFAULT_ANTHROPIC_KEY])
        self.api_keys: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.reset_data()

    def reset_data(self) -> None:
        with self.lock:
            self.max_body_bytes = type(self).max_body_bytes
            self.api_keys = set(self.default_keys)
            self.messages = []

    def add_api_key(self, key: str) -> None:
        """Accept another API key."""
        with self.lock:
            self.api_keys.add(key)

    def error_response(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> Response:
        default_type, default_message = ERROR_TYPES.get(status, ("api_error", "Internal error"))
        request_id = "req_" + uuid.uuid4().hex[:24]
        body = {
            "type": "error",
            "error": {"type": code or default_type, "message": message or default_message},
            "request_id": request_id,
        }
        headers = {"request-id": request_id}
        if retry_after is not None:
            headers["retry-after"] = str(math.ceil(retry_after))
        return JSONResponse(body, status_code=status, headers=headers)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"messages": list(self.messages)}

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a Messages request and build the deterministic answer."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("model: Field required")
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise InvalidRequest("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise InvalidRequest("max_tokens: Input should be greater than or equal to 1")
        if body.get("stream"):
            raise InvalidRequest("stream: streaming is not supported by the figsync sandbox")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("messages: at least one message is required")
        texts = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise InvalidRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            texts.append(_content_text(message.get("content"), f"messages.{i}.content"))
        if messages[0]["role"] != "user":
            raise InvalidRequest('messages: first message must use the "user" role')
        system = body.get("system")
        system_text = _content_text(system, "system") if system is not None else ""
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise InvalidRequest("tools: Input should be a valid list")
        by_name: dict[str, dict[str, Any]] = {}
        for i, tool in enumerate(tools):
            name = tool.get("name") if isinstance(tool, dict) else None
            schema = tool.get("input_schema") if isinstance(tool, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", name):
                raise InvalidRequest(f"tools.{i}.name: String should match pattern")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise InvalidRequest(f"tools.{i}.input_schema: type must be 'object'")
            by_name[name] = tool
        tool_choice = body.get("tool_choice") or {"type": "auto"}
        if not isinstance(tool_choice, dict) or tool_choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            raise InvalidRequest("tool_choice: Input tag should be 'auto', 'any', 'tool' or 'none'")
        if tool_choice["type"] == "tool" and tool_choice.get("name") not in by_name:
            raise InvalidRequest(
                f"tool_choice.name: tool {tool_choice.get('name')!r} is not in tools"
            )
        last_user = next(
            (texts[i] for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"),
            "",
        )
        source = source_text(last_user)
        prompt_text = system_text + "".join(texts) + json.dumps(tools)
        input_tokens = count_tokens(prompt_text) + 8 * len(messages)
        if by_name and tool_choice["type"] != "none":
            tool_name = (
                tool_choice["name"] if tool_choice["type"] == "tool" else next(iter(by_name))
            )
            schema = by_name[tool_name]["input_schema"]
            directives = Directives.read([*instruction_texts(system_text), source])
            tool_input = directives.apply(SchemaFaker(source, schema).value(schema), schema, source)
            tool_input = several_tasks(tool_input, schema, source)
            output_tokens = count_tokens(json.dumps(tool_input)) + 20
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_" + hashlib.sha256(prompt_text.encode()).hexdigest()[:24],
                "name": tool_name,
                "input": tool_input,
            }
            stop_reason = "tool_use"
            if output_tokens > max_tokens:
                block["input"], output_tokens, stop_reason = {}, max_tokens, "max_tokens"
            content = [block]
        else:
            first = _sentences(source)[0]
            text = f"Summary: {first}"
            output_tokens = count_tokens(text)
            stop_reason = "end_turn"
            if output_tokens > max_tokens:
                text, output_tokens, stop_reason = text[: max_tokens * 4], max_tokens, "max_tokens"
            content = [{"type": "text", "text": text}]
        answer = {
            "id": "msg_" + hashlib.sha256((prompt_text + model).encode()).hexdigest()[:24],
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }
        with self.lock:
            self.messages.append({"request": body, "response": answer})
        return answer


def _content_text(content: Any, path: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest(f"{path}: Input should be a valid string or list of content blocks")
    parts = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidRequest(f"{path}.{i}.type: Field required")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                raise InvalidRequest(f"{path}.{i}.text: Input should be a valid string")
            parts.append(block["text"])
        elif block["type"] == "tool_result":
            inner = block.get("content", "")
            parts.append(_content_text(inner, f"{path}.{i}.content") if inner else "")
        elif block["type"] == "tool_use":
            parts.append(json.dumps(block.get("input", {})))
    return "\n".join(parts)


def create_app(state: AnthropicState) -> FastAPI:
    """The Anthropic sandbox as an ASGI app."""
    app = FastAPI(title="figsync sandbox: Anthropic", openapi_url=None, docs_url=None)
    control.install(app, state)

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        key = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if key is None and auth.lower().startswith("bearer "):
            key = auth[7:]
        if key is None:
            return state.error_response(401, message="x-api-key header is required")
        with state.lock:
            known = key in state.api_keys
        if not known:
            return state.error_response(401, message="invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return state.error_response(400, message="anthropic-version: header is required")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return state.error_response(
                400, message="There was an error parsing the body of your request: invalid JSON"
            )
        if not isinstance(body, dict):
            return state.error_response(400, message="Request body must be a JSON object")
        try:
            answer = state.answer(body)
        except InvalidRequest as exc:
            return state.error_response(400, message=str(exc))
        request_id = "req_" + uuid.uuid4().hex[:24]
        return JSONResponse(
            answer,
            headers={"request-id": request_id, "anthropic-organization-id": "sandbox-org"},
        )

    @app.get(f"{control.CONTROL_PREFIX}/messages")
    async def answered() -> dict[str, Any]:
        return state.snapshot()

    return app
