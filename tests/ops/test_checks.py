"""The "banter" system checks: every rate class of the socket event table has a limit.

`manage.py check` fails on them, and so does loading banter.asgi (what `manage.py serve` and
a bare uvicorn do, skipping Django's system checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from banter import socket_routes
from banter.ops.checks import TAG, events_without_limit, fail_on_errors
from banter.realtime.dispatch import EventSpec

ROOT = Path(__file__).resolve().parents[2]


async def handler(ctx: Any, payload: Any) -> None:
    return None


def without(settings: Any, *rate_classes: str) -> None:
    limits = settings.BANTER["RATE_LIMITS"]
    settings.BANTER = {
        **settings.BANTER,
        "RATE_LIMITS": {name: rate for name, rate in limits.items() if name not in rate_classes},
    }


def test_events_without_limit() -> None:
    events = {
        "a": EventSpec(handler, "known"),
        "b": EventSpec(handler, "upload"),
        "c": EventSpec(handler, "upload"),
        "d": EventSpec(handler),
    }
    assert events_without_limit(events, {"known": "1/1", "default": "1/1", "upload": "1/1"}) == {}
    assert events_without_limit(events, {"known": "1/1", "default": "1/1"}) == {
        "upload": ["b", "c"]
    }
    assert events_without_limit(events, {"known": "1/1"}) == {
        "upload": ["b", "c"],
        "default": ["d"],
    }


def test_every_rate_class_of_the_event_table_has_a_limit(settings: Any) -> None:
    assert checks.run_checks(tags=[TAG]) == []
    assert events_without_limit(socket_routes.EVENTS, settings.BANTER["RATE_LIMITS"]) == {}


def test_a_class_without_limit_is_an_error(settings: Any) -> None:
    without(settings, "join")
    errors = checks.run_checks(tags=[TAG])
    assert [error.id for error in errors] == ["banter.E002"]
    assert "'join'" in errors[0].msg
    assert "join-room, leave-room" in errors[0].msg
    assert "RATE_LIMIT_JOIN" in (errors[0].hint or "")
    with pytest.raises(ImproperlyConfigured, match="join-room"):
        fail_on_errors()


def test_no_default_limit_is_an_error(settings: Any) -> None:
    without(settings, "default")
    assert "banter.E001" in [error.id for error in checks.run_checks(tags=[TAG])]


@pytest.fixture
def settings_without_join(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "settings_without_join.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "BANTER = {**BANTER, 'RATE_LIMITS': {k: v for k, v in BANTER['RATE_LIMITS'].items()"
        " if k != 'join'}}  # noqa: F405\n"
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings_without_join",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_manage_py_check_fails(settings_without_join: dict[str, str]) -> None:
    result = run(settings_without_join, "manage.py", "check")
    assert result.returncode != 0
    assert "banter.E002" in result.stderr


def test_loading_the_asgi_application_fails(settings_without_join: dict[str, str]) -> None:
    result = run(settings_without_join, "-c", "import banter.asgi")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "join-room" in result.stderr


@pytest.mark.parametrize(
    ("changes", "error_id"),
    [
        ({"CALL_PLATFORM_FEE_PERCENT": 101}, "banter.E003"),
        ({"CALL_PRICE_PER_MINUTE": -1}, "banter.E003"),
        ({"AGORA_APP_ID": "970CA35de60c44645bbae8a215061b33"}, "banter.E004"),
        ({"AGORA_APP_ID": "not-hex", "AGORA_APP_CERTIFICATE": "x" * 32}, "banter.E005"),
        ({"CALL_ICE_URLS": ("https://turn.example.com",)}, "banter.E006"),
    ],
)
def test_call_settings_are_checked(settings: Any, changes: dict[str, Any], error_id: str) -> None:
    assert not [m for m in checks.run_checks(tags=[TAG]) if m.id and m.id >= "banter.E003"]
    settings.BANTER = {**settings.BANTER, **changes}
    assert error_id in {message.id for message in checks.run_checks(tags=[TAG])}
