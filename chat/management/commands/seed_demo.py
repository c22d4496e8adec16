"""Demo data for a developer's machine: three users, a public room, a direct room, messages.

Idempotent: users and rooms are looked up before they are created, and messages are sent
with fixed clientIds, so message_send's de-duplication makes a second run add nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts.models import User
from chat import services
from chat.models import Room
from wallet.services import wallet_credit, wallet_set_price

DEMO_PASSWORD = "banter-demo-pass"
DEMO_USERS = (("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Cooper"))
GENERAL_ROOM = "General"
# (sender, clientId, content); clientIds make re-runs no-ops.
GENERAL_MESSAGES = (
    ("alice", "seed-general-1", "Welcome to Banter! This is the public General room."),
    ("bob", "seed-general-2", "Hi Alice! Messages here arrive over Socket.IO in real time."),
    ("carol", "seed-general-3", "And history is paged over REST by seq."),
)
# Paid calls to try in the page: bob charges by the minute, alice has coins, carol none.
BOB_PRICE_PER_MINUTE = 10
ALICE_COINS = 500
DIRECT_MESSAGES = (
    ("alice", "seed-direct-1", "Hey Bob, this is our direct room."),
    ("bob", "seed-direct-2", "Only the two of us can read it."),
)


class Command(BaseCommand):
    help = "Create demo users (alice, bob, carol), rooms and messages; print access tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even when DEBUG is off (creates users with a published password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users with a well-known password: run it with DEBUG=1 "
                "or pass --force"
            )
        with transaction.atomic():
            users = {username: _demo_user(username, name) for username, name in DEMO_USERS}
            general = _general_room(users)
            for sender, client_id, content in GENERAL_MESSAGES:
                services.message_send(
                    sender=users[sender], room_id=general.pk, content=content, client_id=client_id
                )
            direct, _ = services.direct_room_get_or_create(
                user=users["alice"], other_user_id=users["bob"].pk
            )
            for sender, client_id, content in DIRECT_MESSAGES:
                services.message_send(
                    sender=users[sender], room_id=direct.pk, content=content, client_id=client_id
                )
            wallet_set_price(user=users["bob"], price_per_minute=BOB_PRICE_PER_MINUTE)
            # The key makes a re-run credit nothing more.
            wallet_credit(
                user_id=users["alice"].pk, amount=ALICE_COINS, memo="demo", key="seed-demo-alice"
            )

        self.stdout.write(f"Demo users (password: {DEMO_PASSWORD}):")
        for username, user in users.items():
            self.stdout.write(f"  {username:<6} id={user.pk}  token={AccessToken.for_user(user)}")
        self.stdout.write(
            f'Rooms: "{GENERAL_ROOM}" id={general.pk} (public), alice<->bob id={direct.pk}'
        )
        self.stdout.write(
            f"Coins: alice has {ALICE_COINS}; calls to bob cost {BOB_PRICE_PER_MINUTE} a minute"
        )
        self.stdout.write(
            'Connect: io("http://127.0.0.1:8000", {auth: {token: "<token>"}}) or '
            'curl -H "Authorization: Bearer <token>" http://127.0.0.1:8000/api/rooms '
            "(tokens expire; rerun seed_demo or POST /api/auth/token for fresh ones)"
        )


def _demo_user(username: str, display_name: str) -> User:
    user, _ = User.objects.get_or_create(username=username, defaults={"display_name": display_name})
    # Reset the password every run so the printed one always works.
    if not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def _general_room(users: dict[str, User]) -> Room:
    room = Room.objects.filter(
        kind=Room.Kind.GROUP, name=GENERAL_ROOM, created_by=users["alice"]
    ).first()
    if room is None:
        return services.room_create(
            creator=users["alice"],
            name=GENERAL_ROOM,
            is_public=True,
            member_ids=[user.pk for name, user in users.items() if name != "alice"],
        )
    for user in users.values():
        services.room_join(user=user, room_id=room.pk)
    return room
