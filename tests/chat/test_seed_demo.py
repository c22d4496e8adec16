"""seed_demo: demo users, rooms and messages; safe to run twice."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts.models import User
from chat.management.commands.seed_demo import DEMO_PASSWORD
from chat.models import Membership, Message, Room
from wallet.models import LedgerEntry
from wallet.services import price_per_minute, wallet_of


def seed() -> str:
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_creates_demo_data() -> None:
    output = seed()

    users = {user.username: user for user in User.objects.all()}
    assert set(users) == {"alice", "bob", "carol"}
    assert all(user.check_password(DEMO_PASSWORD) for user in users.values())
    assert users["alice"].display_name == "Alice Archer"

    general = Room.objects.get(name="General")
    assert general.is_public
    assert set(
        Membership.objects.filter(room=general).values_list("user__username", flat=True)
    ) == {
        "alice",
        "bob",
        "carol",
    }
    direct = Room.objects.get(kind=Room.Kind.DIRECT)
    assert set(Membership.objects.filter(room=direct).values_list("user__username", flat=True)) == {
        "alice",
        "bob",
    }
    assert list(
        Message.objects.filter(room=general).values_list("seq", flat=True).order_by("seq")
    ) == [1, 2, 3]
    assert Message.objects.filter(room=direct).count() == 2

    assert DEMO_PASSWORD in output
    token_line = next(line for line in output.splitlines() if line.strip().startswith("alice"))
    # simplejwt annotates the raw token parameter as Token, but it takes the encoded string.
    token = AccessToken(token_line.split("token=")[1])  # type: ignore[arg-type]
    assert token["user_id"] == str(users["alice"].pk)
    assert "io(" in output

    # Paid calls to try: alice has coins, bob a price.
    assert wallet_of(users["alice"].pk).balance == 500
    assert price_per_minute(wallet_of(users["bob"].pk)) == 10
    assert "Coins: alice has 500" in output


@pytest.mark.django_db
def test_second_run_adds_nothing() -> None:
    seed()
    counts = (
        User.objects.count(),
        Room.objects.count(),
        Membership.objects.count(),
        Message.objects.count(),
        LedgerEntry.objects.count(),
    )
    seed()
    assert (
        User.objects.count(),
        Room.objects.count(),
        Membership.objects.count(),
        Message.objects.count(),
        LedgerEntry.objects.count(),
    ) == counts


@pytest.mark.django_db
def test_refuses_without_debug_unless_forced() -> None:
    with override_settings(DEBUG=False), pytest.raises(CommandError):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()
    with override_settings(DEBUG=False):
        call_command("seed_demo", "--force", stdout=StringIO())
    assert User.objects.count() == 3
