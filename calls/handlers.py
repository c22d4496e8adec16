"""Socket event handlers for calls: adapt payloads, call the state machine, relay signals."""

from __future__ import annotations

from typing import Any

from banter.core.errors import validation_error
from banter.realtime.broadcast import broadcast_now, user_group
from banter.realtime.cluster import LostInstance, device_of
from banter.realtime.dispatch import EventContext, run_sync
from calls import payloads, services


def _fields(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise validation_error("Payload must be an object")
    return payload


async def call_initiate(ctx: EventContext, payload: Any) -> dict[str, Any]:
    fields = _fields(payload)
    call = await run_sync(
        services.call_initiate,
        caller=ctx.user,
        receiver_id=fields.get("receiverId"),
        call_type=fields.get("callType"),
        device=ctx.socket.sid,
    )
    return payloads.call_payload(call)


async def call_accept(ctx: EventContext, payload: Any) -> dict[str, Any]:
    call = await run_sync(
        services.call_accept,
        user=ctx.user,
        call_id=_fields(payload).get("callId"),
        device=ctx.socket.sid,
    )
    return payloads.call_payload(call)


async def call_reject(ctx: EventContext, payload: Any) -> dict[str, Any]:
    call = await run_sync(
        services.call_reject, user=ctx.user, call_id=_fields(payload).get("callId")
    )
    return payloads.call_payload(call)


async def call_cancel(ctx: EventContext, payload: Any) -> dict[str, Any]:
    call = await run_sync(
        services.call_cancel, user=ctx.user, call_id=_fields(payload).get("callId")
    )
    return payloads.call_payload(call)


async def call_end(ctx: EventContext, payload: Any) -> dict[str, Any]:
    call = await run_sync(services.call_end, user=ctx.user, call_id=_fields(payload).get("callId"))
    return payloads.call_ended_payload(call)


async def call_signal(ctx: EventContext, payload: Any) -> dict[str, Any]:
    """Relay an opaque WebRTC offer/answer/ICE object to the other participant only (to the
    device in the call once answered; every device of the receiver while it rings)."""
    fields = _fields(payload)
    signal = fields.get("signal")
    if not isinstance(signal, (dict, str)):
        raise validation_error("signal must be an object or a string", signal="invalid")
    call, other_id, device = await run_sync(
        services.call_for_signal, user=ctx.user, call_id=fields.get("callId")
    )
    broadcast_now(
        user_group(other_id),
        payloads.CALL_SIGNAL,
        payloads.call_signal_payload(call, ctx.user_id, signal),
        only_sid=device or None,
    )
    return {}


async def on_connected(ctx: EventContext) -> None:
    """A user back within CALL_DROP_GRACE keeps their answered call, on this device."""
    await run_sync(services.calls_mark_reconnected, user_id=ctx.user_id, device=ctx.socket.sid)


async def on_disconnected(ctx: EventContext) -> None:
    await run_sync(services.calls_mark_dropped, user_id=ctx.user_id, device=ctx.socket.sid)


async def on_instance_lost(lost: LostInstance) -> None:
    """Devices on a dead instance dropped out of their calls: the drop grace starts now."""
    devices = [device_of(conn_id) for _, conn_ids in lost.users.values() for conn_id in conn_ids]
    await run_sync(services.calls_mark_devices_dropped, devices=devices)
