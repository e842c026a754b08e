"""Write docs/read-api.openapi.json: the projector's read API (jobs, metrics, settings,
audit, commands) as OpenAPI, from the app itself, so the reference never drifts from the code.

`make docs` runs it; `python tools/gen_openapi.py --check` exits 1 when the file is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "docs" / "read-api.openapi.json"


def render() -> str:
    from figsync_projector.api import create_app
    from figsync_projector.auth import Authenticator
    from figsync_projector.feed import ChangeFeed
    from figsync_projector.views import Views

    app = create_app(Views(None), None, ChangeFeed(None), auth=Authenticator(None, csrf_key=b"-"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.name} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
