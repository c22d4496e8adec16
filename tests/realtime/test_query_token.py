"""`?token=` on the socket handshake: deprecated, only with ALLOW_QUERY_TOKEN (default off).

Off, a query token is ignored: the connect is refused with auth_required, as if it had none.
The CONNECT payload and the Authorization header work either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from banter.realtime import auth
from banter.realtime.engine import RequestInfo
from banter.realtime.socketio import ConnectRefused
from tests.conftest import UserFactory


def request(query: dict[str, str], headers: dict[str, str] | None = None) -> RequestInfo:
    return RequestInfo(
        headers=headers or {}, query=query, client_ip="127.0.0.1", origin=None, host=None
    )


@pytest.fixture
def allow_query_token(settings: Any) -> Any:
    def set_to(value: bool) -> None:
        settings.BANTER = {**settings.BANTER, "ALLOW_QUERY_TOKEN": value}

    return set_to


def test_default_is_off(settings: Any) -> None:
    assert settings.BANTER["ALLOW_QUERY_TOKEN"] is False


def test_query_token_ignored_when_off(allow_query_token: Any, user_factory: UserFactory) -> None:
    allow_query_token(False)
    token = str(AccessToken.for_user(user_factory()))
    info = request({"EIO": "4", "transport": "websocket", "token": token})
    assert auth.handshake_token(None, info) is None
    with pytest.raises(ConnectRefused) as refused:
        auth.verify_for_connect(auth.handshake_token(None, info))
    assert refused.value.data == {"code": "auth_required"}


def test_query_token_used_when_allowed(allow_query_token: Any, user_factory: UserFactory) -> None:
    allow_query_token(True)
    user = user_factory()
    token = str(AccessToken.for_user(user))
    info = request({"EIO": "4", "transport": "polling", "token": token})
    assert auth.handshake_token(None, info) == token
    user_id, _ = auth.verify_for_connect(auth.handshake_token(None, info))
    assert user_id == user.pk


@pytest.mark.parametrize("allowed", [False, True])
def test_payload_and_header_work_either_way(allow_query_token: Any, allowed: bool) -> None:
    allow_query_token(allowed)
    info = request({"token": "from-query"}, {"authorization": "Bearer from-header"})
    assert auth.handshake_token({"token": "from-payload"}, info) == "from-payload"
    assert auth.handshake_token(None, info) == "from-header"
    assert auth.handshake_token({}, request({}, {"authorization": "Bearer h"})) == "h"
