"""`mark-read` over sockets: with the payload typed (chat/inbound.py), move the read position
(ReadReceiptService, chat/read_receipts.py, coalesces bursts), ack where it stands."""

from __future__ import annotations

from banter.core.timestamps import iso_utc
from banter.realtime.dispatch import EventContext
from chat.inbound import ReadMark
from chat.payloads import ReadPositionPayload
from chat.read_receipts import ReadPosition, ReadReceiptService


def read_ack(position: ReadPosition) -> ReadPositionPayload:
    return {
        "roomId": position.room_id,
        "messageId": position.message_id,
        "readAt": iso_utc(position.read_at),
        "seq": position.seq,
    }


class ReadReceiptHandlers:
    def __init__(self, receipts: ReadReceiptService) -> None:
        self.receipts = receipts

    async def mark_read(self, ctx: EventContext, payload: ReadMark) -> ReadPositionPayload:
        position = await self.receipts.mark_read(ctx.user, payload.room_id, payload.message_id)
        return read_ack(position)
