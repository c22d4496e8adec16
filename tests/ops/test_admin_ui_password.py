"""`manage.py admin_ui_password`: the ADMIN_UI_PASSWORD_HASH line for a password."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command

from banter.ops.management.commands import admin_ui_password

PASSWORD = "Admin-UI-pass-7f3a"


def run(*args: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch) -> str:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("admin_ui_password", *args, stdout=out)
    return out.getvalue().strip()


def hash_of(line: str) -> str:
    name, _, value = line.partition("=")
    assert name == "ADMIN_UI_PASSWORD_HASH"
    return value


def test_password_option(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = hash_of(run("--password", PASSWORD, monkeypatch=monkeypatch))
    assert check_password(PASSWORD, encoded)
    assert not check_password("other", encoded)


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = hash_of(run("--stdin", stdin=PASSWORD + "\n", monkeypatch=monkeypatch))
    assert check_password(PASSWORD, encoded)


def test_prompt_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr(admin_ui_password.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(admin_ui_password.getpass, "getpass", lambda prompt: next(answers))
    assert check_password(PASSWORD, hash_of(run(monkeypatch=monkeypatch)))


def test_prompts_that_differ_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr(admin_ui_password.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(admin_ui_password.getpass, "getpass", lambda prompt: next(answers))
    with pytest.raises(CommandError, match="differ"):
        run(monkeypatch=monkeypatch)


@pytest.mark.parametrize("password", ["", "123", "password"])
def test_empty_or_weak_passwords_are_refused(
    password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError):
        run("--password", password, monkeypatch=monkeypatch)
