"""Signals the accounts app sends; other layers connect to them.

`user_sessions_revoked` is how the realtime layer learns that a user's live sockets must be
closed on every instance (PROTOCOL.md "Authentication"), without accounts importing it.
"""

from __future__ import annotations

import logging
from typing import Literal

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

RevokeReason = Literal["logout", "deactivated", "deleted", "password_changed", "token_reuse"]

# Sent after the revoking transaction commits, with keyword arguments:
#   user_id: int   whose sessions end
#   reason: str    "logout", "deactivated" or "deleted" (the account row was deleted)
#                  or "password_changed", "token_reuse" (a rotated refresh token came back)
# sender is the User model class. Receivers must be quick (they run in the request).
user_sessions_revoked = Signal()


def user_sessions_revoked_send_on_commit(*, user_id: int, reason: RevokeReason) -> None:
    """Send `user_sessions_revoked` once the current transaction commits (now if none)."""
    from banter.accounts.models import User  # local: keeps this module import-light

    def send() -> None:
        # send_robust: a failing receiver must not turn an already committed logout into a
        # 500; the failure is logged and the client's sockets still expire with their token.
        for receiver, result in user_sessions_revoked.send_robust(
            sender=User, user_id=user_id, reason=reason
        ):
            if isinstance(result, Exception):
                logger.error(
                    "user_sessions_revoked receiver %r failed for user %s",
                    receiver,
                    user_id,
                    exc_info=result,
                )

    transaction.on_commit(send)
