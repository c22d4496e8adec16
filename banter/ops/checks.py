"""Startup checks of the configuration against the code: every rate class the socket event
table (banter/socket_routes.py) names has a limit in settings.BANTER["RATE_LIMITS"].

A Django system check (tag "banter"): `manage.py check`, `migrate`, `runserver` fail on it.
`manage.py serve` and a bare `uvicorn banter.asgi:application` skip Django's system checks,
so banter/asgi.py runs this tag itself (fail_on_errors) before it builds the application.
Values of the environment are checked earlier, when banter/core/config.py reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.apps import AppConfig

    from banter.realtime.dispatch import EventSpec

TAG = "banter"
# rate_for_class falls back to it for unknown events, so it must always exist.
DEFAULT_RATE_CLASS = "default"


def events_without_limit(
    events: Mapping[str, EventSpec], rate_limits: Mapping[str, str]
) -> dict[str, list[str]]:
    """Rate class -> the events naming it, for the classes that have no limit."""
    missing: dict[str, list[str]] = {}
    for event, spec in events.items():
        if not rate_limits.get(spec.rate_class):
            missing.setdefault(spec.rate_class, []).append(event)
    return missing


@checks.register(TAG)
def check_rate_classes(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    from banter import socket_routes  # the top of the import graph: loaded only to check

    rate_limits: Mapping[str, str] = settings.BANTER["RATE_LIMITS"]
    errors: list[checks.CheckMessage] = []
    if not rate_limits.get(DEFAULT_RATE_CLASS):
        errors.append(
            checks.Error(
                'settings.BANTER["RATE_LIMITS"] has no "default" limit',
                hint="set RATE_LIMIT_DEFAULT (banter/core/config.py)",
                id="banter.E001",
            )
        )
    for rate_class, events in events_without_limit(socket_routes.EVENTS, rate_limits).items():
        errors.append(
            checks.Error(
                f"rate class {rate_class!r} of event(s) {', '.join(events)} has no limit in "
                'settings.BANTER["RATE_LIMITS"]',
                hint=f"add a RATE_LIMIT_{rate_class.upper()} knob to banter/core/config.py, "
                "or use an existing class in banter/socket_routes.py",
                obj="banter.socket_routes.EVENTS",
                id="banter.E002",
            )
        )
    return errors


# Knob -> (lowest, highest) for the numbers whose type alone does not make them sensible.
BOUNDED_KNOBS = {
    "CALL_PLATFORM_FEE_PERCENT": (0, 100),
    "CALL_PRICE_PER_MINUTE": (0, None),
    "CALL_MAX_PRICE_PER_MINUTE": (0, None),
    "CALL_BALANCE_WARNING": (0, None),
    "CALL_MAX_DURATION": (60, None),
}
AGORA_KNOBS = ("AGORA_APP_ID", "AGORA_APP_CERTIFICATE")


@checks.register(TAG)
def check_call_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Paid-call numbers in range, and Agora's two credentials set together and well formed
    (a typo would otherwise surface as clients failing to join, one call at a time)."""
    banter = settings.BANTER
    errors: list[checks.CheckMessage] = []
    for name, (low, high) in BOUNDED_KNOBS.items():
        value = banter[name]
        if value < low or (high is not None and value > high):
            bounds = f"{low}..{high}" if high is not None else f"at least {low}"
            errors.append(checks.Error(f"{name} is {value}: must be {bounds}", id="banter.E003"))
    agora = [banter[name] for name in AGORA_KNOBS]
    if any(agora) and not all(agora):
        errors.append(
            checks.Error(
                "set both AGORA_APP_ID and AGORA_APP_CERTIFICATE, or neither", id="banter.E004"
            )
        )
    for name, value in zip(AGORA_KNOBS, agora, strict=True):
        if value and (len(value) != 32 or any(c not in "0123456789abcdefABCDEF" for c in value)):
            errors.append(
                checks.Error(
                    f"{name} must be the 32 hex digits Agora's console shows", id="banter.E005"
                )
            )
    for url in banter["CALL_ICE_URLS"]:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            errors.append(
                checks.Error(f"CALL_ICE_URLS: {url!r} is not a stun:/turn: URL", id="banter.E006")
            )
    return errors


def fail_on_errors() -> None:
    """Raise ImproperlyConfigured if a "banter" check fails (for entry points that skip
    Django's system checks)."""
    errors = [message for message in checks.run_checks(tags=[TAG]) if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("\n".join(str(error) for error in errors))
