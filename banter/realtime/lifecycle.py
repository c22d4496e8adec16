"""Process shutdown: the "draining" flag and the hooks that run once the sockets are closed.

`manage.py serve` drains on SIGTERM (RealtimeServer.drain): new handshakes are refused, every
client is told to reconnect elsewhere, and then the hooks registered here run, in registration
order, so code holding resources (pools, buffered writers) can release them while the event
loop still runs. Readiness checks read `is_draining()` so load balancers stop routing here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger("banter.realtime.lifecycle")

ShutdownHook = Callable[[], Awaitable[None]]
HookT = TypeVar("HookT", bound=ShutdownHook)

_hooks: list[ShutdownHook] = []
_draining = False
_deadline: float | None = None  # time.monotonic() by which the hooks must be done


@dataclass(frozen=True, slots=True)
class HooksOutcome:
    completed: int
    failed: int  # raised, timed out, or skipped because the time budget was spent


def on_shutdown(hook: HookT) -> HookT:
    """Register an async callable (no arguments) to run during drain; usable as a decorator."""
    _hooks.append(hook)
    return hook


def begin_draining() -> None:
    global _draining
    _draining = True


def is_draining() -> bool:
    return _draining


def time_left() -> float:
    """Seconds the running shutdown hooks have left (0 when none are running)."""
    return 0.0 if _deadline is None else max(0.0, _deadline - time.monotonic())


def reset() -> None:
    """Forget the hooks and the flag (tests: the registry is process-wide)."""
    global _draining
    _draining = False
    _hooks.clear()


async def run_shutdown_hooks(deadline: float) -> HooksOutcome:
    """Run every hook in registration order, each bounded by what is left until `deadline`
    (a `time.monotonic()` value). Failures are logged, never raised: one broken hook must not
    keep the others from releasing their resources."""
    global _deadline
    _deadline = deadline
    completed = failed = 0
    for hook in list(_hooks):
        name = getattr(hook, "__qualname__", repr(hook))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logger.warning("shutdown hook %s skipped: shutdown time budget spent", name)
            failed += 1
            continue
        try:
            await asyncio.wait_for(hook(), remaining)
        except TimeoutError:
            logger.warning("shutdown hook %s timed out after %.2fs", name, remaining)
            failed += 1
        except Exception:
            logger.exception("shutdown hook %s failed", name)
            failed += 1
        else:
            completed += 1
    return HooksOutcome(completed, failed)
