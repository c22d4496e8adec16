"""Keep the live layer true to ORM deletes that bypass chat.services (the Django admin, a
cascade from a deleted user or room, a shell): connected in ChatConfig.ready().

Deletes are handled here with post_delete receivers, because a delete can come from
anywhere (querysets, cascades) and these receivers are the ONLY place that announces them,
so the service paths (room_leave, member_remove) that delete a membership are announced
once too. Edits and creates in the admin go through the services instead (chat/admin.py,
banter/notifications/admin.py): a post_save receiver would fire a second time for every
save the services already announce.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from banter.accounts.models import User
from banter.accounts.signals import user_sessions_revoked_send_on_commit
from banter.core.timestamps import iso_utc
from banter.realtime.broadcast import broadcast_on_commit, room_group
from chat import payloads
from chat.models import Membership, Message, RoomEvent
from chat.services import announce_leave


@receiver(post_delete, sender=Membership, dispatch_uid="chat.membership_deleted")
def membership_deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    # Without this an admin-deleted member's open sockets keep the room group subscription
    # and go on receiving a (possibly private) room they are no longer in.
    announce_leave(room_id=instance.room_id, user_id=instance.user_id)


@receiver(post_delete, sender=User, dispatch_uid="chat.user_deleted")
def user_deleted(sender: Any, instance: User, **kwargs: Any) -> None:
    # The same signal as a deactivation: every instance closes the user's sockets (a token
    # of a deleted user would otherwise keep its socket open until it expires).
    user_sessions_revoked_send_on_commit(user_id=instance.pk, reason="deleted")


@receiver(post_delete, sender=Message, dispatch_uid="chat.message_deleted")
def message_hard_deleted(sender: Any, instance: Message, **kwargs: Any) -> None:
    """A message row deleted outright (the admin, or with its sender's account): its recorded
    events are blanked like a soft delete's (chat.services._rewrite_recorded), so no replay
    hands out the text, and the room is told it is gone. The records are kept, not deleted:
    the sequencer fills a room's seq gaps from them. The announcement carries no recovery
    offset (it has no record: the room itself may be going in the same cascade); a client
    that misses it finds the message gone from REST."""
    if instance.deleted_at is not None:
        return  # soft-deleted before: its records are blank and the room was told
    deleted_at = iso_utc(timezone.now())
    recorded = RoomEvent.objects.filter(
        room_id=instance.room_id,
        payload__seq=instance.seq,
        event__in=(payloads.MESSAGE_RECEIVED, payloads.MESSAGE_EDITED),
    )
    for record in recorded:
        # Edited in place, not rebuilt: the sender row may be going in the same cascade.
        record.payload["content"] = ""
        if record.event == payloads.MESSAGE_RECEIVED:
            record.payload["deletedAt"] = deleted_at
        record.save(update_fields=["payload"])
    broadcast_on_commit(
        room_group(instance.room_id),
        payloads.MESSAGE_DELETED,
        payloads.message_deleted_payload(instance),
    )
