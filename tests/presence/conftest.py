"""Presence fixtures: a fresh state store per test and a PresenceService wired as in
banter/socket_routes.py (the rooms of a user come from chat's coalesced selector)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from banter.core.state import reset_state_store
from chat.handlers import member_room_ids
from presence.live import PresenceService


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[None]:
    reset_state_store()
    yield
    reset_state_store()


@pytest.fixture
def presence() -> PresenceService:
    return PresenceService(rooms_of_user=member_room_ids)
