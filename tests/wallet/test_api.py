"""Wallet REST: balance and price, the paged ledger; no way to add coins over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from wallet.services import wallet_credit

pytestmark = pytest.mark.django_db


def test_wallet_defaults_and_own_price(auth_client: Any, user_factory: Any, settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "CALL_PRICE_PER_MINUTE": 3}
    client = auth_client(user_factory())
    assert client.get("/api/wallet").json() == {"balance": 0, "pricePerMinute": 3}
    response = client.patch("/api/wallet", {"pricePerMinute": 10}, format="json")
    assert response.status_code == 200
    assert response.json() == {"balance": 0, "pricePerMinute": 10}
    assert client.get("/api/wallet").json()["pricePerMinute"] == 10


@pytest.mark.parametrize("body", [{"pricePerMinute": -1}, {"pricePerMinute": "x"}, {}, []])
def test_bad_price_is_a_validation_error(auth_client: Any, user_factory: Any, body: Any) -> None:
    response = auth_client(user_factory()).patch("/api/wallet", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_coins_cannot_be_added_over_http(auth_client: Any, user_factory: Any) -> None:
    client = auth_client(user_factory())
    for body in ({"balance": 1_000_000}, {"pricePerMinute": 1, "balance": 1_000_000}):
        client.patch("/api/wallet", body, format="json")
    assert client.get("/api/wallet").json()["balance"] == 0
    assert client.post("/api/wallet", {"amount": 5}, format="json").status_code == 405
    assert client.post("/api/wallet/ledger", {}, format="json").status_code == 405


def test_ledger_is_the_users_own_newest_first_and_paged(
    auth_client: Any, user_factory: Any
) -> None:
    user, other = user_factory(), user_factory()
    for amount in (1, 2, 3):
        wallet_credit(user_id=user.pk, amount=amount, memo=f"m{amount}")
    wallet_credit(user_id=other.pk, amount=99)
    client = auth_client(user)
    page = client.get("/api/wallet/ledger?limit=2").json()
    assert [e["amount"] for e in page["results"]] == [3, 2]
    assert page["results"][0] | {"id": 0, "createdAt": ""} == {
        "id": 0,
        "kind": "top_up",
        "amount": 3,
        "balanceAfter": 6,
        "callId": None,
        "memo": "m3",
        "createdAt": "",
    }
    rest = client.get(page["next"]).json()
    assert [e["amount"] for e in rest["results"]] == [1] and rest["next"] is None


def test_wallet_needs_a_login(api_client: Any) -> None:
    assert api_client.get("/api/wallet").status_code == 401
    assert api_client.get("/api/wallet/ledger").status_code == 401
