"""LOGIN_RATE: password attempts per username and client address, at the API and the admin."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from banter.core import ratelimit
from tests.accounts.conftest import PASSWORD
from tests.services import require_redis

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _login_rate(settings) -> None:
    settings.BANTER = {**settings.BANTER, "LOGIN_RATE": "5/60/5"}


def attempt(client: Any, username: str, password: str = "wrong", ip: str = "10.0.0.1") -> Any:
    return client.post(
        "/api/auth/token",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["details"]["retryAfter"] >= 1
    assert response["Retry-After"] == str(body["details"]["retryAfter"])


class TestApiLogin:
    def test_sixth_attempt_is_refused_even_with_the_right_password(
        self, api_client, user_factory
    ) -> None:
        user_factory(username="bob", password=PASSWORD)
        for _ in range(5):
            assert attempt(api_client, "bob").status_code == 401
        assert_throttled(attempt(api_client, "bob", PASSWORD))
        # Case does not make a new bucket: usernames are unique ignoring case.
        assert_throttled(attempt(api_client, "BOB"))

    def test_per_username_and_address(self, api_client, user_factory) -> None:
        user_factory(username="bob", password=PASSWORD)
        user_factory(username="carol", password=PASSWORD)
        for _ in range(5):
            attempt(api_client, "bob")
        assert_throttled(attempt(api_client, "bob", PASSWORD))
        assert attempt(api_client, "carol", PASSWORD).status_code == 200
        assert attempt(api_client, "bob", PASSWORD, ip="10.0.0.2").status_code == 200

    def test_forwarded_for_does_not_pick_the_bucket(self, api_client, user_factory) -> None:
        user_factory(username="bob", password=PASSWORD)
        for n in range(5):
            api_client.post(
                "/api/auth/token",
                {"username": "bob", "password": "wrong"},
                format="json",
                REMOTE_ADDR="10.0.0.1",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
            )
        assert_throttled(attempt(api_client, "bob", PASSWORD))

    def test_empty_setting_turns_it_off(self, api_client, user_factory, settings) -> None:
        settings.BANTER = {**settings.BANTER, "LOGIN_RATE": ""}
        user_factory(username="bob", password=PASSWORD)
        for _ in range(10):
            assert attempt(api_client, "bob").status_code == 401


class TestAdminLogin:
    def test_sixth_post_is_refused(self, client, user_factory) -> None:
        user_factory(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
        form = {"username": "root", "password": "wrong", "next": "/admin/"}
        for _ in range(5):
            response = client.post("/admin/login/", form, REMOTE_ADDR="10.0.0.1")
            assert response.status_code == 200  # the form again, with its error
        response = client.post(
            "/admin/login/", {**form, "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
        )
        assert_throttled(response)
        # Only POSTs count: the form itself is still served.
        assert client.get("/admin/login/", REMOTE_ADDR="10.0.0.1").status_code == 200
        response = client.post(
            "/admin/login/", {**form, "password": PASSWORD}, REMOTE_ADDR="10.0.0.2"
        )
        assert response.status_code == 302

    def test_shares_the_bucket_with_the_api(self, client, api_client, user_factory) -> None:
        user_factory(username="root", password=PASSWORD, is_staff=True)
        for _ in range(5):
            attempt(api_client, "root")
        form = {"username": "root", "password": PASSWORD}
        assert_throttled(client.post("/admin/login/", form, REMOTE_ADDR="10.0.0.1"))


@pytest.mark.services
def test_limit_holds_in_redis(api_client, user_factory, settings) -> None:
    url = require_redis()
    settings.REDIS_URL = url
    settings.REDIS_PREFIX = f"banter-test-{uuid4().hex}"
    limiter = ratelimit.get_rate_limiter()
    assert isinstance(limiter, ratelimit.RedisRateLimiter)
    try:
        user_factory(username="bob", password=PASSWORD)
        for _ in range(5):
            assert attempt(api_client, "bob").status_code == 401
        assert_throttled(attempt(api_client, "bob", PASSWORD))
    finally:
        limiter.reset()
        ratelimit._redis = None  # later tests get the memory limiter (REDIS_URL is restored)
