from typing import Any

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "banter.realtime"
    label = "realtime"

    def ready(self) -> None:
        from banter.accounts.signals import user_sessions_revoked

        user_sessions_revoked.connect(_close_revoked_sessions, dispatch_uid="banter.realtime")


def _close_revoked_sessions(sender: Any, *, user_id: int, reason: str, **kwargs: Any) -> None:
    # Sent after commit: tell every instance's sockets of this user to end.
    from banter.realtime.broadcast import user_group
    from banter.realtime.hub import publish

    group = user_group(user_id)
    publish(group, {"type": "banter.control", "group": group, "action": "revoke", "reason": reason})
