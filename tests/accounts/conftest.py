"""Fixtures for accounts tests: hand-crafted JWTs and a recorder for session revocations."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings

from banter.accounts.signals import user_sessions_revoked

PASSWORD = "correct horse battery staple"

TokenFactory = Callable[..., str]


def jwt_claims(user_id: int | str, **overrides: Any) -> dict[str, Any]:
    """Claims of a valid access token as simplejwt issues it; overrides replace or drop (None)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user_id),
        "aud": settings.SIMPLE_JWT["AUDIENCE"],
        "iss": settings.SIMPLE_JWT["ISSUER"],
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


@pytest.fixture
def make_token() -> TokenFactory:
    """`make_token(user_id, key=..., algorithm=..., headers=..., **claims)` -> encoded JWT."""

    def build(
        user_id: int | str,
        *,
        key: str | None = None,
        algorithm: str = "HS256",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        signing_key = key if key is not None else str(settings.SIMPLE_JWT["SIGNING_KEY"])
        return jwt.encode(
            jwt_claims(user_id, **claims), signing_key, algorithm=algorithm, headers=headers
        )

    return build


@pytest.fixture
def revocations() -> Iterator[list[dict[str, Any]]]:
    """Every `user_sessions_revoked` sent during the test, as {"user_id", "reason"}."""
    sent: list[dict[str, Any]] = []

    def receiver(sender: Any, user_id: int, reason: str, **kwargs: Any) -> None:
        sent.append({"user_id": user_id, "reason": reason})

    user_sessions_revoked.connect(receiver, dispatch_uid="tests-revocations")
    try:
        yield sent
    finally:
        user_sessions_revoked.disconnect(dispatch_uid="tests-revocations")
