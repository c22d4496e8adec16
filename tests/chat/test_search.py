"""Message search (chat/search.py) over REST: what is found, for whom, and how it is shown.

Runs on the suite's database: SQLite's FTS5 by default, PostgreSQL's full-text search in CI.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from banter.accounts.models import User
from banter.core.ratelimit import get_rate_limiter
from chat import services
from chat.message_batch import SendRequest, message_send_batch
from chat.models import Membership, Room
from tests.chat.conftest import SendMessage
from tests.chat.test_api import assert_error

pytestmark = pytest.mark.django_db

AuthClient = Any


def _search(client: Any, **query: Any) -> list[dict[str, Any]]:
    response = client.get("/api/search/messages", query)
    assert response.status_code == 200, response.json()
    return list(response.json()["results"])


def _contents(hits: list[dict[str, Any]]) -> list[str]:
    return [hit["message"]["content"] for hit in hits]


def test_finds_words_in_the_rooms_of_the_caller_best_first(
    room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
) -> None:
    send(owner, room, "lunch at noon?")
    send(member, room, "Lunch! lunch is the best part of the day, lunch")
    send(owner, room, "the release is done")
    hits = _search(auth_client(member), q="lunch")
    assert sorted(_contents(hits)) == [
        "Lunch! lunch is the best part of the day, lunch",
        "lunch at noon?",
    ]
    assert hits[0]["rank"] >= hits[1]["rank"]
    assert hits[0]["message"]["user"]["id"] in (owner.pk, member.pk)
    # Every word must be there.
    assert _contents(_search(auth_client(member), q="lunch noon")) == ["lunch at noon?"]
    assert _search(auth_client(member), q="dinner") == []


def test_only_rooms_one_is_in_and_only_since_one_joined(
    room: Room,
    owner: User,
    member: User,
    outsider: User,
    send: SendMessage,
    auth_client: AuthClient,
) -> None:
    old = send(owner, room, "secret plan from before")
    assert _search(auth_client(outsider), q="plan") == []
    # Joined later: what was said before is not the newcomer's to search.
    services.member_add(actor=owner, room_id=room.pk, user_id=outsider.pk)
    Membership.objects.filter(room=room, user=outsider).update(
        joined_at=old.created_at + timedelta(microseconds=1)
    )
    later = send(owner, room, "new plan after the join")
    assert [hit["message"]["id"] for hit in _search(auth_client(outsider), q="plan")] == [later.pk]
    assert len(_search(auth_client(member), q="plan")) == 2


def test_deleted_messages_are_never_found_and_edits_are(
    room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
) -> None:
    gone = send(owner, room, "delete this pineapple")
    edited = send(owner, room, "first draft")
    services.message_delete(user=owner, message_id=gone.pk)
    services.message_edit(user=owner, message_id=edited.pk, content="final mango")
    client = auth_client(member)
    assert _search(client, q="pineapple") == []
    assert _search(client, q="draft") == []
    assert _contents(_search(client, q="mango")) == ["final mango"]


def test_group_committed_sends_are_indexed(
    room: Room, owner: User, member: User, auth_client: AuthClient
) -> None:
    # The writer's path: a raw multi-row INSERT on PostgreSQL, bulk_create on SQLite.
    message_send_batch(
        [
            SendRequest(sender=owner, room_id=room.pk, content="batched kiwi one"),
            SendRequest(sender=member, room_id=room.pk, content="batched kiwi two"),
        ]
    )
    assert sorted(_contents(_search(auth_client(member), q="kiwi"))) == [
        "batched kiwi one",
        "batched kiwi two",
    ]


def test_the_snippet_is_escaped_html_with_marks(
    room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
) -> None:
    send(owner, room, '<img src=x onerror="alert(1)"> lunch & more')
    (hit,) = _search(auth_client(member), q="lunch")
    assert "<mark>lunch</mark>" in hit["snippet"]
    # No markup but the marks: the rest is escaped text (PostgreSQL's parser leaves the tag
    # out of its headline, SQLite keeps it, escaped).
    unmarked = hit["snippet"].replace("<mark>", "").replace("</mark>", "")
    assert "<" not in unmarked and ">" not in unmarked
    assert "&amp;" in hit["snippet"]
    assert hit["message"]["content"].startswith("<img")  # the message itself is as sent


def test_room_before_and_limit_narrow_it(
    room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
) -> None:
    other = services.room_create(creator=owner, name="Other", member_ids=[member.pk])
    first = send(owner, room, "standup notes")
    second = send(owner, room, "standup again")
    send(owner, other, "standup elsewhere")
    client = auth_client(member)
    in_room = _search(client, q="standup", roomId=room.pk)
    assert {hit["message"]["id"] for hit in in_room} == {first.pk, second.pk}
    older = _search(client, q="standup", roomId=room.pk, before=second.pk)
    assert [hit["message"]["id"] for hit in older] == [first.pk]
    assert len(_search(client, q="standup", limit=1)) == 1


def test_refusals(
    room: Room, owner: User, outsider: User, send: SendMessage, auth_client: AuthClient
) -> None:
    send(owner, room, "anything")
    client = auth_client(outsider)
    bad: list[dict[str, Any]] = [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "!!! ..."},
        {"q": "x" * 201},
        {"q": "a", "limit": 0},
        {"q": "a", "limit": 51},
        {"q": "a", "roomId": "x"},
    ]
    for query in bad:
        assert_error(client.get("/api/search/messages", query), 400, "validation_error")
    assert_error(
        client.get("/api/search/messages", {"q": "anything", "roomId": room.pk}), 403, "forbidden"
    )
    assert_error(
        client.get("/api/search/messages", {"q": "anything", "roomId": 999999}), 404, "not_found"
    )


def test_query_syntax_of_the_engines_is_just_text(
    room: Room, owner: User, member: User, send: SendMessage, auth_client: AuthClient
) -> None:
    send(owner, room, "the NEAR term and quotes")
    client = auth_client(member)
    for q in ['near" OR (', "NEAR(term", "term*", '"unclosed', "-term", "term OR"]:
        _search(client, q=q)  # answered, never a 500
    assert _contents(_search(client, q="near term")) == ["the NEAR term and quotes"]


def test_search_is_rate_limited(
    room: Room, member: User, auth_client: AuthClient, settings: Any
) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "RATE_LIMITS": {**settings.BANTER["RATE_LIMITS"], "search": "2/60/2"},
    }
    get_rate_limiter().reset()
    client = auth_client(member)
    _search(client, q="a1")
    _search(client, q="a1")
    assert_error(client.get("/api/search/messages", {"q": "a1"}), 429, "rate_limited")


def test_timezone_is_not_a_factor(
    room: Room, owner: User, member: User, auth_client: AuthClient
) -> None:
    # created_at >= joined_at compares stored datetimes: a message sent the same instant
    # the member joined is theirs.
    now = timezone.now()
    Membership.objects.filter(room=room, user=member).update(joined_at=now)
    message, _ = services.message_send(sender=owner, room_id=room.pk, content="instant grape")
    assert message.created_at >= now
    assert _contents(_search(auth_client(member), q="grape")) == ["instant grape"]
