"""Deliveries the sandbox sends on its own (webhooks), run on its server's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def schedule(
    loop: asyncio.AbstractEventLoop | None,
    coro: Coroutine[Any, Any, Any],
    pending: set[asyncio.Future[Any]],
) -> None:
    """Run `coro` on `loop` (the server's), from that loop or from another thread; a task made
    here is kept in `pending` until it ends. Without a running loop, nothing is sent."""
    if loop is None or loop.is_closed():
        coro.close()
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        task = loop.create_task(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)
    else:
        asyncio.run_coroutine_threadsafe(coro, loop)
