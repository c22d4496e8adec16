"""How a call's media flows: Agora channels and RTC tokens when the server has Agora's
credentials, else the clients' own WebRTC over the `call:signal` relay (with the ICE servers
from CALL_ICE_URLS). Both keep the relay: it costs nothing and serves clients without Agora.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any, TypedDict

from django.conf import settings

from calls.agora_token import RtcRole, build_rtc_token
from calls.models import CallLog

Media = CallLog.Media


class MediaCredentials(TypedDict):
    """What a participant needs to join the call's media; None under WebRTC."""

    token: str | None
    channel: str | None
    uid: int | None
    appId: str | None


def agora_enabled() -> bool:
    return bool(settings.BANTER["AGORA_APP_ID"] and settings.BANTER["AGORA_APP_CERTIFICATE"])


def media_for_new_call() -> str:
    return Media.AGORA if agora_enabled() else Media.WEBRTC


def new_channel() -> str:
    # 128 random bits; Agora allows 64 bytes of [a-zA-Z0-9 and some punctuation].
    return f"banter-{secrets.token_hex(16)}"


def token_lifetime() -> int:
    """Seconds a token (and its publishing privileges) last: the ring plus the longest call."""
    banter = settings.BANTER
    return int(float(banter["CALL_RING_TIMEOUT"]) + float(banter["CALL_MAX_DURATION"]))


def credentials(call: CallLog, user_id: int) -> MediaCredentials:
    """A participant's token for the call's Agora channel (the user id is their Agora uid)."""
    live = call.status in (CallLog.Status.RINGING, CallLog.Status.ANSWERED)
    if call.media != Media.AGORA or not agora_enabled() or not live:
        return {"token": None, "channel": None, "uid": None, "appId": None}
    lifetime = token_lifetime()
    token = build_rtc_token(
        settings.BANTER["AGORA_APP_ID"],
        settings.BANTER["AGORA_APP_CERTIFICATE"],
        call.channel,
        user_id,
        role=RtcRole.PUBLISHER,
        token_expire=lifetime,
        privilege_expire=lifetime,
    )
    return {
        "token": token,
        "channel": call.channel,
        "uid": user_id,
        "appId": settings.BANTER["AGORA_APP_ID"],
    }


def ice_servers(user_id: int, now: float | None = None) -> list[dict[str, Any]]:
    """RTCIceServer entries for the page and apps: STUN as is; TURN with time-limited
    credentials when CALL_TURN_SECRET is set (coturn's TURN REST API: the username is
    "<expiry>:<user id>", the password base64(HMAC-SHA1(secret, username)))."""
    urls: tuple[str, ...] = settings.BANTER["CALL_ICE_URLS"]
    stun = [url for url in urls if url.startswith("stun")]
    turn = [url for url in urls if url.startswith("turn")]
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": stun})
    if turn:
        entry: dict[str, Any] = {"urls": turn}
        secret = settings.BANTER["CALL_TURN_SECRET"]
        if secret:
            expiry = int((now if now is not None else time.time()) + token_lifetime())
            username = f"{expiry}:{user_id}"
            digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
            entry |= {"username": username, "credential": base64.b64encode(digest).decode()}
        servers.append(entry)
    return servers
