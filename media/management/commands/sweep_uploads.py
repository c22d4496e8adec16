"""`manage.py sweep_uploads`: remove orphan uploads now (what every server's background
sweeper does each MEDIA_SWEEP_INTERVAL), e.g. from cron where no server runs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from media.services import SWEEP_BATCH, uploads_sweep


class Command(BaseCommand):
    help = "Remove uploads no message used within MEDIA_ORPHAN_GRACE, and detached ones."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        while True:
            removed = uploads_sweep()
            total += removed
            if removed < SWEEP_BATCH:
                break
        self.stdout.write(f"removed {total} orphan uploads")
