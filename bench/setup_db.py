"""Bench users, rooms and tokens, written straight into a migrated database (run by bench/run.py
inside `manage.py shell`, so Django is set up with the bench server's settings).

Users bench0..bench{N-1}; user i is in room i // ROOM_SIZE (rooms of ROOM_SIZE members, the
first one the admin). Registering over REST would hash a password per user (PBKDF2, about a
second of CPU each); tokens are minted the way the API mints them, with the bench's
JWT_ACCESS_SECONDS so they outlive a long run. Prints one JSON list per user:
[user id, room id, access token].
"""

import json
import os

from django.db import transaction

from banter.accounts.models import User
from banter.accounts.tokens import token_pair_for_user
from chat.models import Membership, Room

count = int(os.environ["BENCH_USERS"])
room_size = int(os.environ["BENCH_ROOM_SIZE"])

with transaction.atomic():
    users = []
    for index in range(count):
        user = User(username=f"bench{index}", display_name=f"bench {index}")
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users, batch_size=1000)
    rooms = Room.objects.bulk_create(
        [
            Room(name=f"bench room {r}", created_by=users[r * room_size])
            for r in range(count // room_size)
        ],
        batch_size=1000,
    )
    Membership.objects.bulk_create(
        [
            Membership(
                room=rooms[index // room_size],
                user=user,
                role=Membership.Role.OWNER if index % room_size == 0 else Membership.Role.MEMBER,
            )
            for index, user in enumerate(users[: len(rooms) * room_size])
        ],
        batch_size=1000,
    )
    for index, user in enumerate(users[: len(rooms) * room_size]):
        pair = token_pair_for_user(user)
        print(json.dumps([user.pk, rooms[index // room_size].pk, pair.access]))
