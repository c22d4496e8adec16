"""The wallet admin: a top-up through the change form goes through the ledger; the ledger
itself is read-only."""

from __future__ import annotations

from typing import Any

import pytest

from wallet.models import LedgerEntry
from wallet.services import wallet_credit, wallet_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Any, user_factory: Any) -> Any:
    admin_user = user_factory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    return admin_user


def test_top_up_through_the_change_form(client: Any, staff: Any, user_factory: Any) -> None:
    user = user_factory()
    wallet_credit(user_id=user.pk, amount=1)
    url = f"/admin/wallet/wallet/{user.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"price_per_minute": "12", "top_up": "30", "top_up_memo": "goodwill"}
    )
    assert response.status_code == 302
    wallet = wallet_of(user.pk)
    assert (wallet.balance, wallet.price_per_minute) == (31, 12)
    entry = LedgerEntry.objects.get(user=user, memo="goodwill")
    assert entry.amount == 30 and entry.created_by == staff


def test_the_balance_cannot_be_typed_in(client: Any, staff: Any, user_factory: Any) -> None:
    user = user_factory()
    wallet_credit(user_id=user.pk, amount=5)
    client.post(f"/admin/wallet/wallet/{user.pk}/change/", {"balance": "999"})
    assert wallet_of(user.pk).balance == 5


def test_a_new_wallet_with_a_top_up(client: Any, staff: Any, user_factory: Any) -> None:
    user = user_factory()
    response = client.post(
        "/admin/wallet/wallet/add/", {"user": str(user.pk), "price_per_minute": "", "top_up": "8"}
    )
    assert response.status_code == 302
    assert wallet_of(user.pk).balance == 8


@pytest.mark.parametrize("query", ["", "?kind__exact=top_up", "?q=someone"])
def test_ledger_is_listed_read_only(client: Any, staff: Any, user_factory: Any, query: str) -> None:
    wallet_credit(user_id=user_factory(username="someone").pk, amount=5)
    entry = LedgerEntry.objects.filter(kind="top_up").get()
    assert client.get(f"/admin/wallet/ledgerentry/{query}").status_code == 200
    assert client.get("/admin/wallet/ledgerentry/add/").status_code == 403
    assert client.get(f"/admin/wallet/ledgerentry/{entry.pk}/delete/").status_code == 403
    client.post(f"/admin/wallet/ledgerentry/{entry.pk}/change/", {"amount": "1000"})
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 5
    assert client.get("/admin/wallet/wallet/").status_code == 200
