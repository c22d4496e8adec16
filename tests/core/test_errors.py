"""Every REST error has the one shape {code, message, details}; plus the docs and admin pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from banter.core.ratelimit import get_rate_limiter

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)
    return body


class TestErrorShape:
    def test_400_validation_error(self, api_client) -> None:
        response = api_client.post("/api/auth/register", {"username": "x"}, format="json")
        body = assert_error_shape(response, 400, "validation_error")
        assert "password" in body["details"]["fields"]

    def test_400_malformed_json(self, api_client) -> None:
        response = api_client.post("/api/auth/token", "{not json", content_type="application/json")
        assert_error_shape(response, 400, "validation_error")

    def test_401_unauthorized(self, api_client) -> None:
        response = api_client.get("/api/users/me")
        assert_error_shape(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_403_forbidden(self, auth_client, user_factory) -> None:
        someone_elses = str(RefreshToken.for_user(user_factory()))
        response = auth_client(user_factory()).post(
            "/api/auth/logout", {"refresh": someone_elses}, format="json"
        )
        assert_error_shape(response, 403, "forbidden")

    def test_404_not_found(self, auth_client, user_factory) -> None:
        response = auth_client(user_factory()).get("/api/users/424242")
        assert_error_shape(response, 404, "not_found")

    def test_405_method_not_allowed(self, auth_client, user_factory) -> None:
        response = auth_client(user_factory()).delete("/api/users/me")
        assert_error_shape(response, 405, "validation_error")


class TestRateLimited:
    @pytest.fixture
    def limiter(self, settings) -> Iterator[None]:
        # burst = max(10, rate // 6): one per minute still allows a burst of 10.
        settings.BANTER = {**settings.BANTER, "REST_RATE_PER_MINUTE": 1}
        get_rate_limiter().reset()
        yield
        get_rate_limiter().reset()

    def test_429_with_retry_after(self, limiter, auth_client, user_factory) -> None:
        client = auth_client(user_factory())
        statuses = [client.get("/api/users/me").status_code for _ in range(10)]
        assert statuses == [200] * 10
        response = client.get("/api/users/me")
        body = assert_error_shape(response, 429, "rate_limited")
        retry_after = body["details"]["retryAfter"]
        assert isinstance(retry_after, int)
        assert 1 <= retry_after <= 60
        assert response["Retry-After"] == str(retry_after)

    def test_other_users_are_not_limited(self, limiter, auth_client, user_factory) -> None:
        noisy = auth_client(user_factory())
        for _ in range(11):
            noisy.get("/api/users/me")
        assert auth_client(user_factory()).get("/api/users/me").status_code == 200


class TestPages:
    def test_openapi_schema(self, api_client) -> None:
        response = api_client.get("/api/schema/")
        assert response.status_code == 200
        assert b"/api/auth/register" in response.content
        assert b"/api/calls" in response.content
        assert b"/api/notifications" in response.content

    def test_swagger_ui(self, api_client) -> None:
        assert api_client.get("/api/docs/").status_code == 200

    def test_admin_login_page(self, client) -> None:
        response = client.get("/admin/", follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0].startswith("/admin/login/")
