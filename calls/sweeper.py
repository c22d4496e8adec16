"""The call sweeper: every instance runs one, and together they expire due calls.

Deadlines are rows in the database (ring_expires_at, drop_deadline), so a call becomes
`missed` (or ends after a drop) even when the instance that started it has died; the
sweep's row locks and conditional updates make two instances never expire a call twice.
"""

from __future__ import annotations

import asyncio
import logging
import random

from django.conf import settings

from banter.core.state import get_state_store
from banter.realtime.dispatch import run_sync
from calls import services

logger = logging.getLogger("banter.calls.sweeper")


async def run_call_sweeper() -> None:
    interval = float(settings.BANTER["CALL_SWEEP_INTERVAL"])
    # Instances started together should not sweep in lockstep.
    await asyncio.sleep(random.uniform(0, interval))
    while True:
        try:
            await _forgive_live_drops()
            expired = await run_sync(services.calls_sweep)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("call sweep failed; retrying in %.1fs", interval)
        else:
            for call in expired:
                logger.info(
                    "call expired call=%s status=%s caller=%s receiver=%s",
                    call.pk,
                    call.status,
                    call.caller_id,
                    call.receiver_id,
                )
        await asyncio.sleep(interval)


async def _forgive_live_drops() -> None:
    """A drop is only real if a participant has no connection left. A client that reconnects
    before the server noticed its old socket was gone (network switch: the old socket dies
    at the ping timeout) must keep its call."""
    store = get_state_store()
    for call_id, caller_id, receiver_id in await run_sync(services.calls_due_drops):
        both_connected = await store.connection_count(caller_id) and await store.connection_count(
            receiver_id
        )
        if both_connected and await run_sync(services.call_drop_forgive, call_id=call_id):
            logger.info("call drop forgiven call=%s (both users connected)", call_id)
