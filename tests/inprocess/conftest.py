"""The in-process socket tier: the real namespace and event table, no server process.

Every test here gets `sockets` (a tests.socket_harness.SocketHarness on the production
realtime app), a fresh state store (presence, typing, connection registry) and a
transactional database: handlers run the ORM in worker threads, outside a test transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections

from banter.accounts.models import User
from banter.core.state import reset_state_store
from chat import services
from chat.models import Room
from tests.socket_harness import SocketHarness


@pytest.fixture(autouse=True)
def _transactional(transactional_db: None) -> None:
    """Every test of the tier needs committed rows (handlers read them from other threads)."""


@pytest.fixture(autouse=True)
def _no_persistent_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handlers' worker threads die with each test's event loop; on PostgreSQL (CONN_MAX_AGE
    > 0) each would leave its connection open until the end of the session."""
    monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "CONN_MAX_AGE", 0)


@pytest.fixture(autouse=True)
def _fresh_state_store() -> Iterator[None]:
    reset_state_store()
    yield
    reset_state_store()


@pytest.fixture
async def sockets() -> AsyncIterator[SocketHarness]:
    harness = SocketHarness()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
def banter_settings(settings: Any) -> Callable[..., None]:
    """`banter_settings(TYPING_TIMEOUT=0.2, ...)`: override BANTER entries for one test."""

    def override(**values: Any) -> None:
        settings.BANTER = {**settings.BANTER, **values}

    return override


@pytest.fixture
def make_user(user_factory: Callable[..., User]) -> Callable[..., Any]:
    """`await make_user(username=...)` from async tests."""
    return sync_to_async(user_factory)


@pytest.fixture
def make_room() -> Callable[..., Any]:
    """`await make_room(owner, [members], name=..., is_public=...)`: a committed group room."""

    def create(owner: User, members: list[User], name: str = "Team", **fields: Any) -> Room:
        return services.room_create(
            creator=owner, name=name, member_ids=[m.pk for m in members], **fields
        )

    return sync_to_async(create)
