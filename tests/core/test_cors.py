"""Cross-origin REST: /api/ answers ALLOWED_ORIGINS' preflights and requests (no cookies:
bearer tokens only); other origins and other paths get no CORS headers."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

APP = "https://app.example.com"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_allowed")]


@pytest.fixture
def _allowed() -> Any:
    with override_settings(CORS_ALLOWED_ORIGINS=[APP]):
        yield


def preflight(path: str, origin: str) -> Any:
    return Client().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflight_from_an_allowed_origin() -> None:
    response = preflight("/api/wallet", APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "PATCH" in response["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "Access-Control-Allow-Credentials" not in response  # tokens, never cookies
    assert int(response["Access-Control-Max-Age"]) > 0


def test_a_foreign_origin_gets_no_grant() -> None:
    response = preflight("/api/wallet", "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


def test_only_the_api_is_cross_origin() -> None:
    for path in ("/admin/login/", "/", "/metrics"):
        assert "Access-Control-Allow-Origin" not in preflight(path, APP), path


def test_answers_and_errors_carry_the_grant(auth_client: Any, user_factory: Any) -> None:
    client = auth_client(user_factory())
    ok = client.get("/api/wallet", headers={"Origin": APP})
    assert ok.status_code == 200 and ok["Access-Control-Allow-Origin"] == APP
    assert "Retry-After" in ok["Access-Control-Expose-Headers"]
    # A 401 the page must be able to read (to refresh its token).
    refused = Client().get("/api/wallet", headers={"Origin": APP})
    assert refused.status_code == 401 and refused["Access-Control-Allow-Origin"] == APP
