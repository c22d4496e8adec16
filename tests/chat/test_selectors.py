"""chat.selectors: room lists with unread counts, history paging by seq."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from chat import selectors, services
from chat.models import Room
from tests.chat.conftest import SendMessage, UserFactory


def raises(code: ErrorCode) -> Any:
    return pytest.raises(BanterError, check=lambda error: error.code is code)


def seqs(page: selectors.HistoryPage) -> list[int]:
    return [message.seq for message in page.messages]


@pytest.mark.django_db
class TestRoomList:
    def test_unread_counts(
        self, room: Room, owner: User, admin: User, member: User, send: SendMessage
    ) -> None:
        read = send(owner, room)
        services.read_position_mark(user=member, room_id=room.pk, message_id=read.pk)
        send(owner, room)  # unread
        send(admin, room)  # unread
        send(member, room)  # own: never unread
        services.message_delete(user=admin, message_id=send(admin, room).pk)  # deleted

        (view,) = selectors.room_list_for_user(member)

        assert view.room.pk == room.pk
        assert view.membership.role == "member"
        assert view.unread_count == 2
        assert view.members is None
        assert selectors.room_list_for_user(owner)[0].unread_count == 2  # admin's + member's

    def test_most_recently_active_first_in_two_queries(
        self,
        owner: User,
        user_factory: UserFactory,
        send: SendMessage,
        django_assert_num_queries: Any,
    ) -> None:
        quiet = services.room_create(creator=owner, name="Quiet")
        busy = services.room_create(creator=owner, name="Busy")
        direct_rooms = [
            services.direct_room_get_or_create(user=owner, other_user_id=user_factory().pk)[0]
            for _ in range(3)
        ]
        send(owner, direct_rooms[0])
        send(owner, quiet)
        send(owner, busy)

        # Rooms, roles and unread counts in one query; direct-room members in a second.
        with django_assert_num_queries(2):
            views = selectors.room_list_for_user(owner)
            names = [view.room.name for view in views]
            direct_members = [
                sorted(member.user.username for member in view.members or [])
                for view in views
                if view.room.is_direct
            ]

        assert names[:2] == ["Busy", "Quiet"]
        assert [view.room.pk for view in views][2] == direct_rooms[0].pk
        assert len(views) == 5
        assert all(len(members) == 2 for members in direct_members)

    def test_empty(self, outsider: User) -> None:
        assert selectors.room_list_for_user(outsider) == []


@pytest.mark.django_db
class TestRoomGet:
    def test_member_sees_members(
        self, room: Room, member: User, owner: User, send: SendMessage
    ) -> None:
        send(owner, room)
        view = selectors.room_get_for_member(member, room.pk)
        assert view.unread_count == 1
        assert [m.user.username for m in view.members or []] == ["owner", "admin", "member"]

    def test_outsider_and_unknown(self, room: Room, outsider: User) -> None:
        with raises(ErrorCode.FORBIDDEN):
            selectors.room_get_for_member(outsider, room.pk)
        with raises(ErrorCode.NOT_FOUND):
            selectors.room_get_for_member(outsider, 10**9)


@pytest.mark.django_db
class TestMessageHistory:
    @pytest.fixture
    def history(self, room: Room, member: User, send: SendMessage) -> Room:
        for n in range(1, 11):
            send(member, room, f"message {n}")
        return room

    def test_newest_page_in_ascending_order(self, history: Room, member: User) -> None:
        page = selectors.message_history(member, history.pk, limit=4)
        assert seqs(page) == [7, 8, 9, 10]
        assert page.has_more
        assert (page.next_before, page.next_after) == (7, None)

    def test_paging_back_visits_every_seq_once(
        self, history: Room, member: User, send: SendMessage
    ) -> None:
        seen: list[int] = []
        before = None
        while True:
            page = selectors.message_history(member, history.pk, before=before, limit=3)
            seen = seqs(page) + seen
            send(member, history, "arrives while paging")  # must not shift older pages
            if not page.has_more:
                break
            before = page.next_before
        assert seen == list(range(1, 11))
        assert page.next_before is None

    def test_paging_forward_after_a_seq(self, history: Room, member: User) -> None:
        page = selectors.message_history(member, history.pk, after=3, limit=4)
        assert seqs(page) == [4, 5, 6, 7]
        assert (page.has_more, page.next_after, page.next_before) == (True, 7, None)
        last = selectors.message_history(member, history.pk, after=7, limit=4)
        assert seqs(last) == [8, 9, 10]
        assert not last.has_more
        assert last.next_after is None

    def test_between_after_and_before(self, history: Room, member: User) -> None:
        page = selectors.message_history(member, history.pk, after=2, before=6)
        assert seqs(page) == [3, 4, 5]

    def test_deleted_messages_stay_as_tombstones(self, history: Room, member: User) -> None:
        deleted = selectors.message_history(member, history.pk, limit=1).messages[0]
        services.message_delete(user=member, message_id=deleted.pk)
        page = selectors.message_history(member, history.pk, limit=1)
        assert seqs(page) == [10]
        assert page.messages[0].deleted_at is not None

    @pytest.mark.parametrize(
        "query",
        [
            {"limit": 0},
            {"limit": 101},
            {"limit": "5"},
            {"before": -1},
            {"after": "x"},
            {"after": True},
        ],
    )
    def test_bad_paging(self, history: Room, member: User, query: dict[str, Any]) -> None:
        with raises(ErrorCode.VALIDATION_ERROR):
            selectors.message_history(member, history.pk, **query)

    def test_members_only(self, history: Room, outsider: User) -> None:
        with raises(ErrorCode.FORBIDDEN):
            selectors.message_history(outsider, history.pk)

    def test_uses_the_room_seq_index(self, history: Room, member: User) -> None:
        # The unique (room, seq) constraint is the history index, scanned backwards for the
        # newest page: no sort step (the reason there is no separate (room, -seq) index).
        with CaptureQueriesContext(connection) as queries:
            selectors.message_history(member, history.pk)
        sql = next(
            q["sql"]
            for q in queries.captured_queries
            if "chat_message" in q["sql"].split("FROM")[1]
        )
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A 10-row table is cheaper to scan whole; ask whether the index CAN serve.
                cursor.execute("SET LOCAL enable_seqscan = off")
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + sql)
            plan = " ".join(str(row) for row in cursor.fetchall())
        # PostgreSQL: "Index Scan Backward using chat_message_room_seq"; SQLite: "SEARCH
        # chat_message USING INDEX sqlite_autoindex_chat_message_1" (the same constraint).
        assert "INDEX" in plan.upper()
        assert "TEMP B-TREE" not in plan
        assert "Sort" not in plan


@pytest.mark.django_db
def test_membership_ids(room: Room, owner: User, admin: User, member: User) -> None:
    assert sorted(selectors.room_member_ids(room.pk)) == sorted([owner.pk, admin.pk, member.pk])
    assert selectors.room_ids_for_user(member.pk) == [room.pk]
    assert selectors.room_ids_for_user(10**9) == []
