"""REST authentication through banter.accounts.tokens, the same check sockets use.

simplejwt parses the `Authorization: Bearer` header; verification and the user check are
`user_for_token`, so REST and sockets refuse the same tokens with the same codes and reasons.
To use it: REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] =
["banter.accounts.authentication.JWTAuthentication", ...].
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt import authentication

from banter.accounts.models import User
from banter.accounts.tokens import user_and_claims_for_token
from banter.core.errors import BanterError


class JWTAuthentication(authentication.JWTAuthentication):
    # request.auth is the verified claims dict rather than a simplejwt Token object.
    def authenticate(self, request: Request) -> tuple[User, dict[str, Any]] | None:  # type: ignore[override]
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        # BanterError propagates to the API exception handler: 401 with code and reason.
        return user_and_claims_for_token(raw.decode("ascii", errors="replace"))


class OptionalJWTAuthentication(JWTAuthentication):
    """A refused access token counts as none, for endpoints where something else proves
    who the caller is (logout: the refresh token). There an expired token, or one the
    first logout revoked, must not turn a retried logout into a 401."""

    def authenticate(self, request: Request) -> tuple[User, dict[str, Any]] | None:  # type: ignore[override]
        try:
            return super().authenticate(request)
        except BanterError:
            return None
