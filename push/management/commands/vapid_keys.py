"""`manage.py vapid_keys`: a new VAPID key pair for Web Push, printed as the two settings
(raw P-256 keys, base64url, as browsers and py-vapid use them)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from banter.core.vapid import new_pair


class Command(BaseCommand):
    help = "Print a new VAPID key pair (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY) for Web Push."

    def handle(self, *args: Any, **options: Any) -> None:
        public, private = new_pair()
        self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
