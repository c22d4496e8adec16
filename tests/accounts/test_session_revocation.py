"""Ending a user's sessions refuses their earlier access tokens everywhere (REST, socket
CONNECT, auth:refresh), and a rotated refresh token presented again revokes the user's tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.utils import aware_utcnow

from banter.accounts.admin import UserAdmin
from banter.accounts.models import RotatedRefreshToken, User
from banter.accounts.services import user_deactivate, user_logout
from banter.accounts.tokens import token_pair_for_user
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.asgi_routing import realtime_asgi
from banter.realtime.auth import AuthRefresh, auth_refresh, cancel_expiry
from banter.realtime.engine import EngineConfig
from banter.realtime.namespace import BanterNamespace
from banter.realtime.transports import OriginPolicy, RealtimeServer
from tests.accounts.conftest import PASSWORD


def login(client: Any, username: str = "bob", password: str = PASSWORD) -> Any:
    return client.post(
        "/api/auth/token", {"username": username, "password": password}, format="json"
    )


def me(client: Any, access: str) -> Any:
    return client.get("/api/users/me", HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh(client: Any, token: str) -> Any:
    return client.post("/api/auth/token/refresh", {"refresh": token}, format="json")


def logout(client: Any, token: str) -> Any:
    return client.post("/api/auth/logout", {"refresh": token}, format="json")


def assert_revoked(response: Any) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["details"]["reason"] == "revoked"


@pytest.fixture
def same_second() -> Iterator[None]:
    """Every token of the test is issued at one instant: the same `iat` (whole seconds),
    the case a time-based cutoff cannot decide."""
    frozen = aware_utcnow()
    with mock.patch("rest_framework_simplejwt.tokens.aware_utcnow", return_value=frozen):
        yield


@pytest.mark.django_db
class TestAccessRevokedOverRest:
    def test_logout_refuses_access_tokens_issued_before(self, api_client, user_factory) -> None:
        user_factory(username="bob", password=PASSWORD)
        pair = login(api_client).json()
        assert me(api_client, pair["access"]).status_code == 200
        assert logout(api_client, pair["refresh"]).status_code == 204
        assert_revoked(me(api_client, pair["access"]))

    def test_login_right_after_logout_works(self, api_client, user_factory, same_second) -> None:
        user_factory(username="bob", password=PASSWORD)
        before = login(api_client).json()
        assert logout(api_client, before["refresh"]).status_code == 204
        after = login(api_client).json()
        assert after["access"] != before["access"]
        assert me(api_client, after["access"]).status_code == 200
        assert_revoked(me(api_client, before["access"]))

    def test_logout_ends_every_access_token_but_only_this_refresh_token(
        self, api_client, user_factory
    ) -> None:
        # The scope of the socket revocation: every session of the user ends, but another
        # device keeps its refresh token and comes back with it.
        user_factory(username="bob", password=PASSWORD)
        phone, laptop = login(api_client).json(), login(api_client).json()
        assert logout(api_client, phone["refresh"]).status_code == 204
        assert_revoked(me(api_client, laptop["access"]))
        assert refresh(api_client, phone["refresh"]).status_code == 401
        renewed = refresh(api_client, laptop["refresh"])
        assert renewed.status_code == 200
        assert me(api_client, renewed.json()["access"]).status_code == 200

    def test_repeated_logout_with_the_revoked_access_token_still_works(
        self, api_client, user_factory
    ) -> None:
        user_factory(username="bob", password=PASSWORD)
        pair = login(api_client).json()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        assert logout(api_client, pair["refresh"]).status_code == 204
        assert logout(api_client, pair["refresh"]).status_code == 204

    def test_reactivation_does_not_revive_access_tokens(self, api_client, user_factory) -> None:
        user = user_factory(username="bob", password=PASSWORD)
        access = login(api_client).json()["access"]
        user_deactivate(user=user)
        User.objects.filter(pk=user.pk).update(is_active=True)
        assert_revoked(me(api_client, access))

    def test_admin_password_change_revokes_every_token(
        self, api_client, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        user = user_factory(username="bob", password=PASSWORD)
        pair = login(api_client).json()
        new_password = "another horse battery staple"
        form = UserAdmin.change_password_form(
            user, {"password1": new_password, "password2": new_password}
        )
        assert form.is_valid(), form.errors
        with django_capture_on_commit_callbacks(execute=True):
            form.save()
        assert_revoked(me(api_client, pair["access"]))
        assert refresh(api_client, pair["refresh"]).status_code == 401
        assert revocations == [{"user_id": user.pk, "reason": "password_changed"}]
        fresh = login(api_client, password=new_password).json()["access"]
        assert me(api_client, fresh).status_code == 200


@pytest.mark.django_db
class TestRefreshReuse:
    def test_rotated_token_presented_again_revokes_the_family(
        self, api_client, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        user = user_factory(username="bob", password=PASSWORD)
        stolen = login(api_client).json()["refresh"]
        rotated = refresh(api_client, stolen).json()  # the owner's (or the thief's) next pair
        # Past the grace for clients racing with one token.
        RotatedRefreshToken.objects.update(rotated_at=timezone.now() - timedelta(minutes=1))
        with django_capture_on_commit_callbacks(execute=True):
            replay = refresh(api_client, stolen)
        assert_revoked(replay)
        assert revocations == [{"user_id": user.pk, "reason": "token_reuse"}]
        assert_revoked(refresh(api_client, rotated["refresh"]))
        assert_revoked(me(api_client, rotated["access"]))
        # The owner logs in again.
        assert me(api_client, login(api_client).json()["access"]).status_code == 200

    def test_logged_out_token_presented_again_is_refused_but_revokes_nothing(
        self, api_client, user_factory, revocations, django_capture_on_commit_callbacks, settings
    ) -> None:
        # Not a rotated token: no successor exists, so it is no sign of theft (a second tab
        # still refreshing with the token the first one logged out must not end the
        # user's other devices).
        settings.BANTER = {**settings.BANTER, "REFRESH_REUSE_GRACE": 0.0}
        user_factory(username="bob", password=PASSWORD)
        phone, laptop = login(api_client).json(), login(api_client).json()
        assert logout(api_client, phone["refresh"]).status_code == 204
        with django_capture_on_commit_callbacks(execute=True):
            assert_revoked(refresh(api_client, phone["refresh"]))
        assert revocations == []
        assert refresh(api_client, laptop["refresh"]).status_code == 200

    def test_reuse_within_the_grace_is_refused_but_revokes_nothing(
        self, api_client, user_factory, revocations, django_capture_on_commit_callbacks, settings
    ) -> None:
        # Two tabs refreshing with one stored token: the loser fails, the winner goes on.
        settings.BANTER = {**settings.BANTER, "REFRESH_REUSE_GRACE": 3600.0}
        user_factory(username="bob", password=PASSWORD)
        shared = login(api_client).json()["refresh"]
        winner = refresh(api_client, shared).json()
        with django_capture_on_commit_callbacks(execute=True):
            assert_revoked(refresh(api_client, shared))
        assert revocations == []
        assert me(api_client, winner["access"]).status_code == 200
        assert refresh(api_client, winner["refresh"]).status_code == 200


def _revoked_and_current(user: User) -> tuple[str, str]:
    """An access token from before a logout and one from after it."""
    before = token_pair_for_user(user)
    user_logout(user=user, refresh_token=before.refresh)
    return before.access, token_pair_for_user(user).access


@pytest.mark.django_db(transaction=True)
class TestAccessRevokedOverSockets:
    async def _connect(self, token: str) -> str:
        """The Socket.IO reply to a CONNECT with this token (namespace packet, as sent)."""
        namespace = BanterNamespace(events={})
        config = EngineConfig(ping_interval=60, ping_timeout=60, connect_timeout=5)
        app = realtime_asgi(RealtimeServer({"/": namespace}, config, OriginPolicy(None)), None)
        client = WebsocketCommunicator(app, "/socket.io/?EIO=4&transport=websocket")
        assert (await client.connect())[0]
        try:
            assert (await client.receive_from()).startswith("0")
            await client.send_to("40" + json.dumps({"token": token}))
            return str(await client.receive_from(timeout=5))
        finally:
            await client.disconnect()

    async def test_connect_with_an_access_token_issued_before_logout_is_refused(
        self, user_factory
    ) -> None:
        from asgiref.sync import sync_to_async

        user = await sync_to_async(user_factory)()
        revoked, _ = await sync_to_async(_revoked_and_current)(user)
        reply = await self._connect(revoked)
        assert reply.startswith("44"), reply
        assert json.loads(reply[2:])["data"] == {"code": "token_invalid"}

    async def test_auth_refresh_with_a_revoked_token_is_refused(self, user_factory) -> None:
        from asgiref.sync import sync_to_async

        user = await sync_to_async(user_factory)()
        revoked, current = await sync_to_async(_revoked_and_current)(user)
        ctx: Any = SimpleNamespace(user_id=user.pk, socket=SimpleNamespace(state={}))
        with pytest.raises(BanterError) as refused:
            await auth_refresh(ctx, AuthRefresh(token=revoked))
        assert refused.value.code is ErrorCode.UNAUTHORIZED
        assert refused.value.details == {"reason": "revoked"}
        assert "auth_timers" not in ctx.socket.state
        try:
            assert (await auth_refresh(ctx, AuthRefresh(token=current)))["exp"] > 0
        finally:
            cancel_expiry(ctx.socket)
