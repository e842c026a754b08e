"""The Settings page's field-mapping hint names only task fields that exist (a team that
follows it must not get notion.unknown_task_field)."""

import re
from pathlib import Path

import pytest

from figsync_notion.mapping import FIELD_KINDS

pytestmark = pytest.mark.unit

TEMPLATE = (
    Path(__file__).resolve().parent.parent
    / "services/projector/src/figsync_projector/templates/_settings_body.html"
)


def test_the_mapping_hint_names_real_task_fields():
    hint = re.search(r"task field</code> \(([^)]*)\)", TEMPLATE.read_text())
    assert hint, "the field-mapping hint is gone from the Settings page"
    named = [n.strip() for n in hint.group(1).split(";")[0].split(",") if n.strip() != "…"]
    assert named and set(named) <= set(FIELD_KINDS), set(named) - set(FIELD_KINDS)
