"""join-room for an existing member: one hop of reads, no room_join (issue 22, item 3)."""

from __future__ import annotations

from typing import Any

import pytest

from chat import services
from tests.socket_harness import MakeRoom, MakeUser, SocketHarness, ok


async def test_join_room_of_an_existing_member_reads_without_room_join(
    sockets: SocketHarness,
    make_user: MakeUser,
    make_room: MakeRoom,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A member's socket is subscribed since connect: join-room is one hop of reads (no
    room_join, so no membership write or lock), with the same answer."""
    alice, bob = await make_user(), await make_user()
    room = await make_room(alice, [bob], name="ours")
    b = await sockets.connect(bob)

    def not_for_members(**kwargs: Any) -> Any:
        raise AssertionError("room_join called for an existing member")

    monkeypatch.setattr(services, "room_join", not_for_members)
    joined = ok(await b.emit("join-room", room.pk))
    assert joined["roomId"] == room.pk and joined["room"]["role"] == "member"
    assert {m["id"] for m in joined["room"]["members"]} == {alice.pk, bob.pk}
    assert await b.wait_for("room-joined") == joined
