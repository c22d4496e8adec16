"""The orphan sweeper: every instance runs one (as the call sweeper), and together they
remove uploads no message kept (media/services.py uploads_sweep; SKIP LOCKED on PostgreSQL
lets several sweep at once without taking the same rows)."""

from __future__ import annotations

import asyncio
import logging
import random

from django.conf import settings

from banter.realtime.dispatch import run_sync
from media.services import SWEEP_BATCH, uploads_sweep

logger = logging.getLogger("banter.media.sweeper")


async def run_upload_sweeper() -> None:
    interval = float(settings.BANTER["MEDIA_SWEEP_INTERVAL"])
    await asyncio.sleep(random.uniform(0, interval))  # instances not in lockstep
    while True:
        try:
            removed = await run_sync(uploads_sweep)
            while removed == SWEEP_BATCH:  # a backlog: keep going, a batch at a time
                removed = await run_sync(uploads_sweep)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("upload sweep failed; retrying in %.0fs", interval)
        await asyncio.sleep(interval)
