"""The Admin UI's credentials (banter/realtime/admin_auth.py): password, session ids."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from banter.realtime import admin_auth
from banter.realtime.admin_auth import AdminCredentials

PASSWORD = "Admin-UI-pass-7f3a"


@pytest.fixture
def credentials() -> AdminCredentials:
    return AdminCredentials("ops", make_password(PASSWORD))


def test_password_needs_the_username_and_the_password(credentials: AdminCredentials) -> None:
    assert credentials.password_valid("ops", PASSWORD)
    assert not credentials.password_valid("ops", "wrong")
    assert not credentials.password_valid("root", PASSWORD)
    assert not credentials.password_valid("", "")


def test_a_wrong_username_still_checks_the_hash(
    credentials: AdminCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def check(password: str, encoded: str) -> bool:
        checked.append(password)
        return True

    monkeypatch.setattr(admin_auth, "check_password", check)
    assert not credentials.password_valid("root", PASSWORD)
    assert checked == [PASSWORD]  # same work as a right username: timing tells nothing


@pytest.mark.parametrize(
    ("username", "password_hash"),
    [("", make_password(PASSWORD)), ("ops", ""), ("", "")],
    # Fixed ids: a hash has a random salt, and xdist workers must collect the same names.
    ids=["no-username", "no-hash", "neither"],
)
def test_without_both_settings_no_password_or_session_logs_in(
    username: str, password_hash: str
) -> None:
    unset = AdminCredentials(username, password_hash)
    assert not unset.password_enabled
    assert not unset.password_valid(username, PASSWORD)
    assert not unset.session_valid(AdminCredentials("ops", "x").issue_session())


def test_session_ids_are_signed_and_tied_to_the_login_and_hash(
    credentials: AdminCredentials,
) -> None:
    session_id = credentials.issue_session()
    assert credentials.session_valid(session_id)
    assert not credentials.session_valid(session_id + "x")
    assert not credentials.session_valid("forged")
    rotated = AdminCredentials("ops", make_password("Another-pass-91x"))
    assert not rotated.session_valid(session_id)
    renamed = AdminCredentials("admin", credentials.password_hash)
    assert not renamed.session_valid(session_id)


def test_session_ids_expire(credentials: AdminCredentials, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = credentials.issue_session()
    monkeypatch.setattr(admin_auth, "SESSION_MAX_AGE", -1)
    assert not credentials.session_valid(session_id)


def test_a_misconfigured_login_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    AdminCredentials("ops", "").warn_if_unusable()
    AdminCredentials("ops", "plain-text-password").warn_if_unusable()
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "must both be set" in messages
    assert "not a Django password hash" in messages
