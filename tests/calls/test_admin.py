"""The call log admin renders with its filters, search and date hierarchy."""

from __future__ import annotations

import pytest

from tests.calls.conftest import CallFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    ["", "?q=alice", "?status__exact=missed", "?call_type__exact=video", "?started_at__year=2030"],
)
def test_changelist(client, user_factory, call_factory: CallFactory, query) -> None:
    admin_user = user_factory(is_staff=True, is_superuser=True)
    call = call_factory(user_factory(username="alice"), user_factory(), status="missed")
    client.force_login(admin_user)
    assert client.get(f"/admin/calls/calllog/{query}").status_code == 200
    assert client.get(f"/admin/calls/calllog/{call.pk}/change/").status_code == 200
