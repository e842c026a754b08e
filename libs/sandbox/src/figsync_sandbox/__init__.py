"""Local Figma, Notion and Anthropic API servers with fault injection, for tests and `make dev`."""

from figsync_sandbox.anthropic_api import DEFAULT_ANTHROPIC_KEY, AnthropicState
from figsync_sandbox.clicks import click_link, decode_upn
from figsync_sandbox.emails import comment_email_message, render_comment_email, sender_address
from figsync_sandbox.faults import FaultInjector, FaultRule, Latency
from figsync_sandbox.figma import (
    DEFAULT_FIGMA_TOKEN,
    DEFAULT_FILE_KEY,
    DEFAULT_FILE_NAME,
    DEFAULT_REPLY_COMMENT_ID,
    DEFAULT_ROOT_COMMENT_ID,
    FigmaState,
)
from figsync_sandbox.notion import (
    BUGS_DATA_SOURCE_ID,
    BUGS_DATABASE_ID,
    DEFAULT_NOTION_TOKEN,
    NOTION_VERSION,
    PRIVATE_DATABASE_ID,
    TASKS_DATA_SOURCE_ID,
    TASKS_DATABASE_ID,
    NotionState,
)
from figsync_sandbox.servers import Sandbox, SandboxConfig

__all__ = [
    "BUGS_DATABASE_ID",
    "BUGS_DATA_SOURCE_ID",
    "DEFAULT_ANTHROPIC_KEY",
    "DEFAULT_FIGMA_TOKEN",
    "DEFAULT_FILE_KEY",
    "DEFAULT_FILE_NAME",
    "DEFAULT_NOTION_TOKEN",
    "DEFAULT_REPLY_COMMENT_ID",
    "DEFAULT_ROOT_COMMENT_ID",
    "NOTION_VERSION",
    "PRIVATE_DATABASE_ID",
    "TASKS_DATABASE_ID",
    "TASKS_DATA_SOURCE_ID",
    "AnthropicState",
    "FaultInjector",
    "FaultRule",
    "FigmaState",
    "Latency",
    "NotionState",
    "Sandbox",
    "SandboxConfig",
    "click_link",
    "comment_email_message",
    "decode_upn",
    "render_comment_email",
    "sender_address",
]
