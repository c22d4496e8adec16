"""Writes for accounts: registration, login, token rotation, logout, profile, deactivation.

Ending a user's sessions (logout, deactivation, password change, refresh-token reuse) bumps
User.token_generation, which refuses every access token issued before (REST, socket CONNECT,
auth:refresh), and sends `user_sessions_revoked` after commit; the realtime layer listens and
closes that user's sockets on every instance. Refresh tokens are revoked through the
blacklist: one (logout) or all of the user's (the other cases).
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from banter.accounts.models import RotatedRefreshToken, User
from banter.accounts.signals import RevokeReason, user_sessions_revoked_send_on_commit
from banter.accounts.tokens import (
    TokenPair,
    VerifiedRefresh,
    refresh_token_verify,
    token_error,
    token_pair_for_user,
)
from banter.core.errors import BanterError, ErrorCode, conflict, forbidden, validation_error

DISPLAY_NAME_MAX = 64
AVATAR_URL_MAX = 500
EMAIL_MAX = 254
# Invisible bidirectional overrides let a name render as someone else's; Cc covers controls.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_http_url = URLValidator(schemes=["http", "https"])


@transaction.atomic
def user_register(*, username: str, password: str, display_name: str = "", email: str = "") -> User:
    """Create an active user; the username is unique ignoring case."""
    username = _username_clean(username)
    user = User(
        username=username,
        display_name=_display_name_clean(display_name),
        email=_email_clean(email),
    )
    # Checked against the unsaved user so "similar to username/email" rules apply.
    _password_check(password, user)
    if User.objects.filter(username__iexact=username).exists():
        raise _username_taken()
    user.set_password(password)
    try:
        # A savepoint, so losing a race with a concurrent registration leaves the outer
        # transaction usable and the loser gets the same conflict as the pre-check.
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise _username_taken() from None
    return user


@transaction.atomic
def user_login(
    *, username: str, password: str, request: HttpRequest | None = None
) -> tuple[User, TokenPair]:
    """Check credentials and issue a token pair. Inactive users cannot log in."""
    # Django's ModelBackend hashes even for unknown usernames, so timing reveals nothing,
    # and it refuses inactive users; one message for every failure avoids enumeration.
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User) or not user.is_active:
        raise BanterError(
            ErrorCode.UNAUTHORIZED,
            "Invalid username or password",
            {"reason": "invalid_credentials"},
        )
    return user, token_pair_for_user(user)


def token_pair_refresh(*, refresh_token: str) -> TokenPair:
    """Rotate: blacklist the given refresh token and issue a new pair.

    Presenting a refresh token that is already blacklisted is refused and, unless it was
    blacklisted less than REFRESH_REUSE_GRACE seconds ago, taken as theft: a rotated token
    came back, so either the client or a thief holds its successor. Every refresh token of
    the user is revoked and their sessions ended (reason `token_reuse`); the owner logs in
    again, the thief is out. Not atomic itself: the revocation must commit although the
    call then fails (so it must not run inside an outer transaction either).
    """
    with transaction.atomic():
        pair = _refresh_rotate(refresh_token)
    if pair is None:
        raise token_error("revoked", "Token has been revoked")
    return pair


@transaction.atomic
def user_logout(*, user: User, refresh_token: str) -> None:
    """Blacklist this refresh token and end the user's live sessions. Idempotent.

    The scope is the same as the socket revocation's: every access token and socket of the
    user ends (the generation is per user), but only this device's refresh token is
    blacklisted, so the user's other devices refresh and reconnect.
    """
    verified = refresh_token_verify(refresh_token, allow_blacklisted=True)
    if verified.user_id != user.pk:
        raise forbidden("This refresh token belongs to another user")
    _refresh_blacklist(verified, user=user, raw=refresh_token)
    _sessions_end(user, reason="logout")


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """Deactivate, revoke every refresh token, and close the user's live sessions."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    # Refresh already refuses inactive users; blacklisting (and the generation) too means
    # reactivating the account later does not bring back tokens that may have leaked.
    _refresh_tokens_revoke_all(user)
    _sessions_end(user, reason="deactivated")
    return user


@transaction.atomic
def user_password_changed(*, user: User) -> None:
    """After a password change: revoke every token of the user and end their sessions."""
    _refresh_tokens_revoke_all(user)
    _sessions_end(user, reason="password_changed")


@transaction.atomic
def user_profile_update(
    *,
    user: User,
    display_name: str | None = None,
    avatar_url: str | None = None,
    email: str | None = None,
    do_not_disturb: bool | None = None,
    push_previews: bool | None = None,
) -> User:
    """Change the given profile fields (None = leave as is); empty strings clear them."""
    changes: dict[str, Any] = {}
    if do_not_disturb is not None:
        changes["do_not_disturb"] = bool(do_not_disturb)
    if push_previews is not None:
        changes["push_previews"] = bool(push_previews)
    if display_name is not None:
        changes["display_name"] = _display_name_clean(display_name)
    if avatar_url is not None:
        changes["avatar_url"] = _avatar_url_clean(avatar_url)
    if email is not None:
        changes["email"] = _email_clean(email)
    for field, value in changes.items():
        setattr(user, field, value)
    if changes:
        user.save(update_fields=list(changes))
    return user


def _refresh_rotate(raw: str) -> TokenPair | None:
    """The new pair, or None for a refresh token already blacklisted (reuse)."""
    verified = refresh_token_verify(raw, allow_blacklisted=True)
    user = User.objects.filter(pk=verified.user_id).first()
    if user is None or not user.is_active:
        raise token_error("user_inactive", "User is inactive")
    blacklisted, created = _refresh_blacklist(verified, user=user, raw=raw)
    if created:
        RotatedRefreshToken.objects.create(token=blacklisted.token)
        return token_pair_for_user(user)
    # Blacklisted before: by logout or deactivation (only refused), or by a rotation. Two
    # concurrent refreshes with one token (two tabs sharing it) both get here and only one
    # created the row; the other is refused, but a client's race is not theft: within the
    # grace the winner's new pair stays valid.
    grace = timedelta(seconds=settings.BANTER["REFRESH_REUSE_GRACE"])
    if RotatedRefreshToken.objects.filter(
        token=blacklisted.token, rotated_at__lt=timezone.now() - grace
    ).exists():
        _refresh_tokens_revoke_all(user)
        _sessions_end(user, reason="token_reuse")
    return None


def _sessions_end(user: User, *, reason: RevokeReason) -> None:
    """Refuse every access token issued so far and close the user's live sockets."""
    # F(): two revocations at once both count; the instance learns the value the database
    # holds, in case the caller issues tokens with it afterwards.
    User.objects.filter(pk=user.pk).update(token_generation=F("token_generation") + 1)
    user.refresh_from_db(fields=["token_generation"])
    user_sessions_revoked_send_on_commit(user_id=user.pk, reason=reason)


def _refresh_tokens_revoke_all(user: User) -> None:
    pending = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in pending], ignore_conflicts=True
    )


def _refresh_blacklist(
    verified: VerifiedRefresh, *, user: User, raw: str
) -> tuple[BlacklistedToken, bool]:
    """Blacklist a verified refresh token: (its row, whether this call created it)."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=verified.jti,
        # Only for a validly signed token we never recorded (e.g. issued before the
        # blacklist app was installed): record it so it can be blacklisted.
        defaults={
            "user": user,
            "token": raw,
            "created_at": timezone.now(),
            "expires_at": datetime_from_epoch(verified.token.payload["exp"]),
        },
    )
    return BlacklistedToken.objects.get_or_create(token=outstanding)


def _username_taken() -> BanterError:
    return conflict(
        "Username is already taken",
        fields={"username": ["A user with that username already exists."]},
    )


def _username_clean(username: str) -> str:
    username = User.normalize_username(username.strip())
    if not username:
        raise validation_error("Username is required", username=["This field may not be blank."])
    field = User._meta.get_field("username")
    try:
        for validator in field.validators:
            validator(username)
    except DjangoValidationError as exc:
        raise validation_error("Invalid username", username=exc.messages) from None
    return username


def _password_check(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise validation_error("Password is too weak", password=exc.messages) from None


def _display_name_clean(value: str) -> str:
    value = value.strip()
    if len(value) > DISPLAY_NAME_MAX:
        raise validation_error(
            "Display name is too long",
            displayName=[f"Ensure this field has no more than {DISPLAY_NAME_MAX} characters."],
        )
    if any(ch in _BIDI_CONTROLS or unicodedata.category(ch) == "Cc" for ch in value):
        raise validation_error(
            "Display name contains control characters",
            displayName=["Control and bidirectional override characters are not allowed."],
        )
    return value


def _avatar_url_clean(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if len(value) > AVATAR_URL_MAX:
        raise validation_error(
            "Avatar URL is too long",
            avatarUrl=[f"Ensure this field has no more than {AVATAR_URL_MAX} characters."],
        )
    # URLValidator already limits schemes; the explicit check documents the rule and
    # guards against a validator change (javascript:/data: URLs are rendered by clients).
    try:
        _http_url(value)
    except DjangoValidationError:
        raise validation_error(
            "Avatar URL must be an http or https URL", avatarUrl=["Enter a valid http(s) URL."]
        ) from None
    if urlsplit(value).scheme.lower() not in {"http", "https"}:
        raise validation_error(
            "Avatar URL must be an http or https URL", avatarUrl=["Enter a valid http(s) URL."]
        )
    return value


def _email_clean(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        validate_email(value)
    except DjangoValidationError:
        valid = False
    else:
        valid = len(value) <= EMAIL_MAX
    if not valid:
        raise validation_error("Invalid email address", email=["Enter a valid email address."])
    return User.objects.normalize_email(value)
