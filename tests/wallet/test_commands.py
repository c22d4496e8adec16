"""`manage.py wallet_credit` and `manage.py wallet_check`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from wallet.models import Wallet
from wallet.services import wallet_of

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_wallet_credit_adds_coins_once_per_key(user_factory: Any) -> None:
    user = user_factory(username="dana")
    assert "credited 40 to dana: balance 40" in run("wallet_credit", "dana", "40", "--key", "k1")
    assert "already credited" in run("wallet_credit", "dana", "40", "--key", "k1")
    run("wallet_credit", "dana", "2")
    assert wallet_of(user.pk).balance == 42


@pytest.mark.parametrize(
    ("args", "message"), [(("nobody", "5"), "no user"), (("dana", "0"), "positive")]
)
def test_wallet_credit_refuses(user_factory: Any, args: tuple[str, str], message: str) -> None:
    user_factory(username="dana")
    with pytest.raises(CommandError, match=message):
        run("wallet_credit", *args)


def test_wallet_check_passes_and_fails(user_factory: Any) -> None:
    user = user_factory(username="erin")
    run("wallet_credit", "erin", "5")
    assert "ledger consistent: 1 wallets, 2 entries" in run("wallet_check")
    Wallet.objects.filter(user=user).update(balance=6)
    with pytest.raises(CommandError, match="1 ledger inconsistencies"):
        run("wallet_check")
