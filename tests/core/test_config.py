"""banter/core/config.py: every knob typed and read once; bad values and unknown RATE_LIMIT_*
names refuse to start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from banter.core import config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_environment() -> None:
    loaded = config.load({})
    assert loaded.PING_INTERVAL == 25.0
    assert loaded.MAX_PAYLOAD == 1_000_000
    assert loaded.ALLOW_QUERY_TOKEN is False
    assert loaded.ALLOWED_HOSTS == ()
    assert loaded.banter_settings()["RATE_LIMITS"]["message"] == "100/60/20"


def test_debug_defaults() -> None:
    loaded = config.load({"DEBUG": "1"})
    assert loaded.ALLOWED_HOSTS == ("127.0.0.1", "localhost", "[::1]")
    assert loaded.ALLOWED_ORIGINS == ("http://127.0.0.1:8000", "http://localhost:8000")


def test_values_are_typed() -> None:
    loaded = config.load(
        {
            "PING_INTERVAL": "3.5",
            "MAX_PAYLOAD": " 77 ",
            "BENCH_EVENTS": "Yes",
            "FORWARDED_ALLOW_IPS": " 10.0.0.0/8 , ::1 ,",
            "RATE_LIMIT_CALL": "1/2/3",
        }
    )
    assert loaded.PING_INTERVAL == 3.5
    assert loaded.MAX_PAYLOAD == 77
    assert loaded.BENCH_EVENTS is True
    assert loaded.FORWARDED_ALLOW_IPS == ("10.0.0.0/8", "::1")
    assert loaded.banter_settings()["RATE_LIMITS"]["call"] == "1/2/3"


def test_empty_values_keep_their_meaning() -> None:
    # Numbers and booleans: default. Strings and lists: empty (LOGIN_RATE= turns it off).
    loaded = config.load({"PING_INTERVAL": "", "DEBUG": "", "LOGIN_RATE": "", "ALLOWED_HOSTS": ""})
    assert loaded.PING_INTERVAL == 25.0
    assert loaded.DEBUG is False
    assert loaded.LOGIN_RATE == ""
    assert loaded.ALLOWED_HOSTS == ()


def test_banter_settings_holds_the_banter_knobs_and_rate_classes() -> None:
    banter = config.load({}).banter_settings()
    assert "REDIS_URL" not in banter  # module-level settings stay out
    assert "RATE_LIMIT_MESSAGE" not in banter
    assert set(banter["RATE_LIMITS"]) == config.rate_classes()
    assert config.rate_classes() == {
        "default", "message", "typing", "join", "call", "signal", "read", "presence", "search",
        "upload",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PING_INTERVAL": "abc"}, "PING_INTERVAL: 'abc' is not a number"),
        ({"PING_TIMEOUT": "nan"}, "PING_TIMEOUT: 'nan' is not a number"),
        ({"MAX_PAYLOAD": "1.5"}, "MAX_PAYLOAD: '1.5' is not an integer"),
        ({"DEBUG": "maybe"}, "DEBUG: 'maybe' is not a boolean"),
        ({"RATE_LIMIT_MESSAGE": "abc/60"}, "RATE_LIMIT_MESSAGE: 'abc/60' is not a rate"),
        ({"RATE_LIMIT_TYPING": "10"}, "RATE_LIMIT_TYPING: '10' is not a rate"),
        ({"LOGIN_RATE": "0/60"}, "LOGIN_RATE: '0/60' is not a rate"),
        ({"LOGIN_RATE": "1.5/60"}, "LOGIN_RATE: '1.5/60' is not a rate"),
        ({"RATE_LIMIT_DEFAULT": ""}, "RATE_LIMIT_DEFAULT must not be empty"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be plain or json"),
        ({"ASGI_SERVER": "gunicorn"}, "ASGI_SERVER must be uvicorn or daphne"),
        ({"RATE_LIMIT_MESAGE": "1/1"}, "did you mean RATE_LIMIT_MESSAGE?"),
        ({"RATE_LIMIT_WEBHOOK": "1/1"}, "RATE_LIMIT_WEBHOOK is not a Banter setting"),
    ],
)
def test_bad_values_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("?", r"\?")):
        config.load(environ)


def test_names_outside_our_prefixes_are_not_checked() -> None:
    # Kubernetes service links, the test suite's own variables, anything else's.
    config.load({"BANTER_SERVICE_HOST": "10.0.0.1", "REDIS_PORT": "tcp://x:6379", "MAX_JOBS": "4"})


def import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", "import banter.settings"],
        cwd=ROOT,
        env={**base, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("RATE_LIMIT_MESAGE", "5/60"), ("MAX_CONNECTIONS_PER_USER", "twenty"), ("DATABASE_URL", "")],
)
def test_startup_fails_naming_the_variable(name: str, value: str) -> None:
    result = import_settings(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def test_startup_accepts_valid_overrides() -> None:
    result = import_settings(RATE_LIMIT_MESSAGE="5/60", MAX_CONNECTIONS_PER_USER="3")
    assert result.returncode == 0, result.stderr
