"""wallet.services: top-ups, prices, the zero-sum ledger and its consistency check."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from banter.core.errors import BanterError, ErrorCode
from wallet.models import LedgerEntry, Wallet
from wallet.services import (
    Posting,
    post,
    price_per_minute,
    wallet_credit,
    wallet_inconsistencies,
    wallet_of,
    wallet_set_price,
)

pytestmark = pytest.mark.django_db


def test_reads_never_create_a_wallet(user_factory: Any, settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "CALL_PRICE_PER_MINUTE": 7}
    user = user_factory()
    wallet = wallet_of(user.pk)
    assert (wallet.balance, price_per_minute(wallet)) == (0, 7)
    assert not Wallet.objects.exists()


def test_a_top_up_is_a_balanced_transaction(user_factory: Any) -> None:
    user, staff = user_factory(), user_factory(is_staff=True)
    entry, credited = wallet_credit(user_id=user.pk, amount=500, created_by=staff, memo="promo")
    assert credited and entry.amount == 500 and entry.balance_after == 500
    assert wallet_of(user.pk).balance == 500
    entries = LedgerEntry.objects.filter(key=entry.key)
    assert sorted((e.kind, e.user_id, e.amount) for e in entries) == [
        ("issue", None, -500),
        ("top_up", user.pk, 500),
    ]
    assert all(e.created_by == staff and e.memo == "promo" for e in entries)
    assert wallet_inconsistencies() == []


def test_a_top_up_with_a_key_credits_once(user_factory: Any) -> None:
    user = user_factory()
    first, credited = wallet_credit(user_id=user.pk, amount=50, key="order-1")
    again, credited_again = wallet_credit(user_id=user.pk, amount=50, key="order-1")
    assert credited and not credited_again and again.pk == first.pk
    assert wallet_of(user.pk).balance == 50


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None])
def test_a_top_up_must_be_positive_whole_coins(user_factory: Any, amount: Any) -> None:
    with pytest.raises(BanterError) as refused:
        wallet_credit(user_id=user_factory().pk, amount=amount)
    assert refused.value.code is ErrorCode.VALIDATION_ERROR
    assert not LedgerEntry.objects.exists()


def test_a_top_up_for_nobody(db: None) -> None:
    with pytest.raises(BanterError) as refused:
        wallet_credit(user_id=999_999, amount=5)
    assert refused.value.code is ErrorCode.NOT_FOUND


@pytest.mark.parametrize("price", [-1, 100_001, 2.5, "3", None, True])
def test_price_must_be_whole_coins_within_the_ceiling(user_factory: Any, price: Any) -> None:
    with pytest.raises(BanterError) as refused:
        wallet_set_price(user=user_factory(), price_per_minute=price)
    assert refused.value.code is ErrorCode.VALIDATION_ERROR


def test_price_zero_is_free_and_explicit(user_factory: Any, settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "CALL_PRICE_PER_MINUTE": 7}
    user = user_factory()
    assert price_per_minute(wallet_set_price(user=user, price_per_minute=0)) == 0


def test_an_unbalanced_transaction_is_refused(user_factory: Any) -> None:
    user = user_factory()
    with transaction.atomic(), pytest.raises(ValueError, match="does not balance"):
        post([Posting(user.pk, "top_up", 5)], key="bad")
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)  # no test-wide transaction around it
def test_post_needs_a_transaction(user_factory: Any) -> None:
    user = user_factory()
    with pytest.raises(RuntimeError):
        post([Posting(user.pk, "top_up", 5), Posting(None, "issue", -5)], key="x")


def test_the_database_refuses_an_overdraft(user_factory: Any) -> None:
    user = user_factory()
    wallet_credit(user_id=user.pk, amount=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        post([Posting(user.pk, "call_charge", -6), Posting(None, "call_fee", 6)], key="c:1")
    assert wallet_of(user.pk).balance == 5


def test_the_same_key_and_kind_cannot_be_written_twice(user_factory: Any) -> None:
    user = user_factory()
    wallet_credit(user_id=user.pk, amount=10)
    with transaction.atomic():
        post([Posting(user.pk, "call_charge", -1), Posting(None, "call_fee", 1)], key="call:9")
    with pytest.raises(IntegrityError), transaction.atomic():
        post([Posting(user.pk, "call_charge", -1), Posting(None, "call_fee", 1)], key="call:9")
    assert wallet_of(user.pk).balance == 9


def test_the_check_finds_a_tampered_balance_and_a_lopsided_transaction(
    user_factory: Any,
) -> None:
    user = user_factory()
    wallet_credit(user_id=user.pk, amount=10)
    Wallet.objects.filter(user=user).update(balance=11)
    LedgerEntry.objects.create(user=None, kind="call_fee", amount=3, key="call:77")
    problems = wallet_inconsistencies()
    assert f"wallet of user {user.pk}: balance 11, ledger sum 10" in problems
    assert "transaction call:77 sums to 3, not 0" in problems
    assert len(problems) == 2
