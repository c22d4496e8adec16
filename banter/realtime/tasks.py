"""Fire-and-forget tasks that are neither lost nor silent.

The event loop keeps only weak references to tasks, so a task nobody holds can vanish
mid-flight; and an exception in a task nobody awaits is only reported at garbage
collection. `spawn` holds each task until it ends and logs its failure at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

logger = logging.getLogger("banter.realtime.tasks")

_running: set[asyncio.Future[Any]] = set()


def spawn(awaitable: Awaitable[Any], *, name: str) -> asyncio.Future[Any]:
    task = asyncio.ensure_future(awaitable)
    if isinstance(task, asyncio.Task):
        task.set_name(name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Future[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        logger.error("background task %s failed", name, exc_info=task.exception())
