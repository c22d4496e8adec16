"""A fast acceptance path for the common access token, in front of simplejwt.

Verifying an access token through simplejwt and PyJWT cost 94 µs, 12% of the event loop's
CPU in a connect storm (docs/benchmarks.md, "connect path"); most of it is option merging,
key preparation and claim conversions done again for every token. The token every client
sends is one shape: HS256 with our key, `{"alg": "HS256", "typ": "JWT"}`, an `access`
token_type, a jti, an integer exp in the future. This checks exactly that shape in 7 µs.

It only ever accepts: whatever it does not recognise (another header, a missing or odd
claim, an expired or not yet valid token, a bad signature) returns None, and the caller
hands the token to simplejwt, which stays the one authority for every refusal and its
reason. So it must never accept a token simplejwt would refuse: each check below is the
same as or stricter than the library's, and tests/accounts/test_fast_jwt.py holds them to it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
import time
from base64 import urlsafe_b64decode
from functools import cache
from typing import Any

from rest_framework_simplejwt.settings import api_settings

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
# simplejwt turns exp into a datetime, which ends with year 9999: a later exp is refused.
_YEAR_10000 = 253402300800
_HEADERS = ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256"})


@cache
def _key() -> bytes | None:
    """The HMAC key, or None when settings make the fast path unsafe to take."""
    if (
        api_settings.ALGORITHM != "HS256"
        or not isinstance(api_settings.AUDIENCE, str | None)
        or not isinstance(api_settings.ISSUER, str | None)
        or api_settings.JWK_URL
        or api_settings.TOKEN_TYPE_CLAIM is None
    ):
        return None
    key = api_settings.SIGNING_KEY
    return key.encode() if isinstance(key, str) else bytes(key)


def access_claims(raw: str) -> dict[str, Any] | None:
    """The claims of a current, well-formed HS256 access token signed with our key, or None
    (not necessarily invalid: simplejwt decides)."""
    key = _key()
    if key is None or raw.count(".") != 2:
        return None
    header_b64, payload_b64, signature_b64 = raw.split(".")
    try:
        signature = _b64decode(signature_b64)
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(payload_b64))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if header not in _HEADERS or not isinstance(claims, dict):
        return None
    expected = hmac.new(key, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return None
    return claims if _current_access(claims) else None


def _current_access(claims: dict[str, Any]) -> bool:
    now = time.time()
    exp, iat = claims.get("exp"), claims.get("iat", 0)
    return (
        # What simplejwt issues, exactly: a list audience, or none where one is expected,
        # goes to simplejwt (which may accept it).
        claims.get("aud") == api_settings.AUDIENCE
        and claims.get("iss") == api_settings.ISSUER
        and claims.get(api_settings.TOKEN_TYPE_CLAIM) == "access"
        and isinstance(claims.get(api_settings.JTI_CLAIM), str)
        and type(exp) is int
        and now < exp < _YEAR_10000
        and type(iat) is int
        and iat <= now
        and "nbf" not in claims  # rare: simplejwt checks it
    )


def _b64decode(segment: str) -> bytes:
    # urlsafe_b64decode skips characters outside the alphabet; here they are refused.
    if not _BASE64URL.fullmatch(segment):
        raise ValueError("not base64url")
    return urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
