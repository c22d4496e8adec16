"""The reference peer of `make bench`: a minimal python-socketio server with Banter's bench events.

Not part of the product. It is what a team would write with python-socketio in an afternoon:
no auth check, no database, no limits, so the comparison is generous to it. The load
generator drives it exactly as it drives Banter:

* the CONNECT auth carries `roomId`: the socket enters that room (Banter subscribes a socket to
  its rooms from the database at connect);
* `bench:send {roomId, text, sentAt}` -> `bench:message {roomId, userId, text, sentAt}` to the
  whole room, sender included, then the ack `{"ok": true, "data": {}}` (Banter's shape).

Run (bench/run.py does): ``uvicorn bench.peers.socketio_ref:app --loop uvloop``.
"""

from __future__ import annotations

from typing import Any

import socketio

sio = socketio.AsyncServer(
    async_mode="asgi",
    cors_allowed_origins="*",
    # Banter's heartbeat, so both servers do the same idle work.
    ping_interval=25,
    ping_timeout=20,
)
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None) -> None:
    room = (auth or {}).get("roomId")
    await sio.save_session(sid, {"user": (auth or {}).get("token", "")[-8:], "room": room})
    if room is not None:
        await sio.enter_room(sid, f"room:{room}")


@sio.on("bench:send")
async def bench_send(sid: str, payload: dict[str, Any]) -> dict[str, Any]:
    session = await sio.get_session(sid)
    room = payload.get("roomId")
    await sio.emit(
        "bench:message",
        {
            "roomId": room,
            "userId": session["user"],
            "text": payload.get("text"),
            "sentAt": payload.get("sentAt"),
        },
        room=f"room:{room}",
    )
    return {"ok": True, "data": {}}
