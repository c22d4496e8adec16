"""Socket event handlers for calls: take typed payloads (calls/inbound.py), call the state
machine, relay signals."""

from __future__ import annotations

from typing import Any

from banter.core.coalesce import Coalescer
from banter.realtime.broadcast import broadcast_now, user_group
from banter.realtime.cluster import LostInstance, device_of
from banter.realtime.dispatch import EventContext, run_sync
from calls import payloads, services
from calls.inbound import CallInitiate, CallRef, CallSignal


async def call_initiate(ctx: EventContext, payload: CallInitiate) -> payloads.CallWithMediaPayload:
    call = await run_sync(
        services.call_initiate,
        caller=ctx.user,
        receiver_id=payload.receiver_id,
        call_type=payload.call_type,
        device=ctx.socket.sid,
    )
    return payloads.call_with_media_payload(call, ctx.user_id)


async def call_accept(ctx: EventContext, payload: CallRef) -> payloads.CallWithMediaPayload:
    """The ack carries the receiver's media credentials too: a device woken by a push never
    saw `call:incoming`."""
    call = await run_sync(
        services.call_accept, user=ctx.user, call_id=payload.call_id, device=ctx.socket.sid
    )
    return payloads.call_with_media_payload(call, ctx.user_id)


async def call_token_refresh(ctx: EventContext, payload: CallRef) -> payloads.CallWithMediaPayload:
    """A fresh Agora token for the caller's side of an answered call (Agora's "token
    privilege will expire" callback)."""
    call = await run_sync(services.call_for_token, user=ctx.user, call_id=payload.call_id)
    return payloads.call_with_media_payload(call, ctx.user_id)


async def call_reject(ctx: EventContext, payload: CallRef) -> payloads.CallPayload:
    call = await run_sync(services.call_reject, user=ctx.user, call_id=payload.call_id)
    return payloads.call_payload(call)


async def call_cancel(ctx: EventContext, payload: CallRef) -> payloads.CallPayload:
    call = await run_sync(services.call_cancel, user=ctx.user, call_id=payload.call_id)
    return payloads.call_payload(call)


async def call_end(ctx: EventContext, payload: CallRef) -> payloads.CallEndedPayload:
    call = await run_sync(services.call_end, user=ctx.user, call_id=payload.call_id)
    return payloads.call_ended_payload(call)


async def call_signal(ctx: EventContext, payload: CallSignal) -> dict[str, Any]:
    """Relay an opaque WebRTC offer/answer/ICE object to the other participant only (to the
    device in the call once answered; every device of the receiver while it rings)."""
    call, other_id, device = await run_sync(
        services.call_for_signal, user=ctx.user, call_id=payload.call_id
    )
    broadcast_now(
        user_group(other_id),
        payloads.CALL_SIGNAL,
        payloads.call_signal_payload(call, ctx.user_id, payload.signal),
        only_sid=device or None,
    )
    return {}


_mark_reconnected = Coalescer(services.calls_mark_reconnected_many)


async def on_connected(ctx: EventContext) -> None:
    """A user back within CALL_DROP_GRACE keeps their answered call, on this device."""
    await _mark_reconnected((ctx.user_id, ctx.socket.sid))


async def on_disconnected(ctx: EventContext) -> None:
    await run_sync(services.calls_mark_dropped, user_id=ctx.user_id, device=ctx.socket.sid)


async def on_instance_lost(lost: LostInstance) -> None:
    """Devices on a dead instance dropped out of their calls: the drop grace starts now."""
    devices = [device_of(conn_id) for _, conn_ids in lost.users.values() for conn_id in conn_ids]
    await run_sync(services.calls_mark_devices_dropped, devices=devices)
