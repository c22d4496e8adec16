"""Two refreshes racing with one refresh token: exactly one wins (rotation is not forkable),
and the loser is not taken for a thief (the winner's new pair stays valid)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from rest_framework_simplejwt.tokens import RefreshToken

from banter.accounts.services import token_pair_refresh
from banter.core.errors import BanterError


@pytest.mark.django_db(transaction=True)
def test_concurrent_refresh_with_one_token(user_factory) -> None:
    if connection.vendor == "sqlite":
        # The in-memory shared-cache test database reports lock conflicts instead of
        # waiting, so real concurrency is only meaningful on PostgreSQL (CI runs it there).
        pytest.skip("needs a database with row locking (PostgreSQL)")
    raw = str(RefreshToken.for_user(user_factory()))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    pairs = []
    lock = threading.Lock()

    def refresh() -> None:
        barrier.wait()
        try:
            pairs.append(token_pair_refresh(refresh_token=raw))
            outcome = "ok"
        except BanterError as exc:
            outcome = exc.details.get("reason", "error")
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["ok", "revoked"]
    # Within REFRESH_REUSE_GRACE: no family revocation, the winner rotates on.
    token_pair_refresh(refresh_token=pairs[0].refresh)
