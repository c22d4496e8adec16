"""JWT issue and verification over simplejwt, with the algorithm pinned by SIMPLE_JWT.

Every failure becomes a BanterError: `token_expired` for an expired token, `unauthorized`
otherwise, with `details["reason"]` saying why (the socket layer maps reasons to its
CONNECT_ERROR codes). Access-token verification never touches the database, so the socket
layer can call it on every handshake and check the user separately (`user_for_token`).

An access token also carries the user's session generation (claim `gen`, see
User.token_generation); `access_token_current` refuses one issued before the user's sessions
were last ended (reason `revoked`). Whoever loads the user for a token must call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import jwt
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token

from banter.accounts import fast_jwt
from banter.core.errors import BanterError, ErrorCode

if TYPE_CHECKING:
    from banter.accounts.models import User

_T = TypeVar("_T", bound=Token)

# Largest id a BigAutoField holds; a bigger claim cannot name a user.
_MAX_ID = 2**63 - 1

# The access-token claim holding User.token_generation at issue (absent: 0, older tokens).
GENERATION_CLAIM = "gen"

# A real token is a few hundred bytes; refusing huge input before base64/JSON decoding keeps
# a hostile handshake cheap.
MAX_TOKEN_LENGTH = 4096

# Most specific first: InvalidSignatureError is a DecodeError, all are InvalidTokenError.
_JWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidAlgorithmError, "algorithm"),
    (jwt.InvalidSignatureError, "signature"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "issuer"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.DecodeError, "malformed"),
)


class _WrongTokenType(TokenError):
    pass


class _Blacklisted(TokenError):
    pass


def _token_type_check(token: Token) -> None:
    # Replaces simplejwt's check so "refresh used as access" is distinguishable from junk.
    if token.payload.get(api_settings.TOKEN_TYPE_CLAIM) != token.token_type:
        raise _WrongTokenType("Token has wrong type")


class _AccessToken(AccessToken):
    def verify_token_type(self) -> None:
        _token_type_check(self)


class _RefreshToken(RefreshToken):
    def verify_token_type(self) -> None:
        _token_type_check(self)

    def check_blacklist(self) -> None:
        # simplejwt checks the blacklist before it checks that a jti exists; .get() leaves
        # a jti-less token to that check instead of a KeyError.
        jti = self.payload.get(api_settings.JTI_CLAIM)
        if jti is not None and BlacklistedToken.objects.filter(token__jti=jti).exists():
            raise _Blacklisted("Token is blacklisted")


class _RefreshTokenAnyState(_RefreshToken):
    """A verified refresh token whose blacklist state the caller decides about (logout)."""

    def check_blacklist(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str


@dataclass(frozen=True, slots=True)
class VerifiedRefresh:
    user_id: int
    jti: str
    token: RefreshToken


def token_error(reason: str, message: str = "Token is invalid") -> BanterError:
    """The shared `unauthorized` error with a machine-readable reason."""
    return BanterError(ErrorCode.UNAUTHORIZED, message, {"reason": reason})


def token_pair_for_user(user: User) -> TokenPair:
    """Issue a refresh token (recorded as outstanding, so it can be blacklisted) and its access."""
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    # On the access token only: refresh tokens are revoked one by one through the blacklist,
    # so a logout on one device does not end the others' ability to refresh.
    access[GENERATION_CLAIM] = user.token_generation
    return TokenPair(access=str(access), refresh=str(refresh))


def access_token_verify(raw: str) -> tuple[int, dict[str, Any]]:
    """Verify an access token without the database; return (user_id, claims)."""
    claims = (
        fast_jwt.access_claims(raw)
        if isinstance(raw, str) and len(raw) <= MAX_TOKEN_LENGTH
        else None
    )
    if claims is None:  # not the common shape, or not valid: simplejwt decides and says why
        claims = dict(_decode(_AccessToken, raw).payload)
    user_id = _user_id(claims)
    token_generation(claims)  # junk in the claim fails here, before any query
    return user_id, claims


def token_generation(claims: dict[str, Any]) -> int:
    """The session generation an access token was issued in (0 when it has none)."""
    value = claims.get(GENERATION_CLAIM, 0)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID:
        return value
    raise token_error("invalid")


def access_token_current(user: User, claims: dict[str, Any]) -> None:
    """Refuse an access token issued before the user's sessions were last ended."""
    if token_generation(claims) < user.token_generation:
        raise token_error("revoked", "Token has been revoked")


def user_for_token(raw: str) -> User:
    """Verify an access token and return its user, who must exist and be active."""
    return user_and_claims_for_token(raw)[0]


def user_and_claims_for_token(raw: str) -> tuple[User, dict[str, Any]]:
    """`user_for_token` plus the verified claims (REST keeps them as request.auth)."""
    from banter.accounts.models import User

    user_id, claims = access_token_verify(raw)
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise token_error("user_not_found", "User not found")
    if not user.is_active:
        raise token_error("user_inactive", "User is inactive")
    access_token_current(user, claims)
    return user, claims


def refresh_token_verify(raw: str, *, allow_blacklisted: bool = False) -> VerifiedRefresh:
    """Verify a refresh token; a blacklisted one fails unless `allow_blacklisted` (logout)."""
    token_class = _RefreshTokenAnyState if allow_blacklisted else _RefreshToken
    token = _decode(token_class, raw)
    return VerifiedRefresh(
        user_id=_user_id(token.payload),
        jti=str(token.payload[api_settings.JTI_CLAIM]),
        token=token,
    )


def _decode(token_class: type[_T], raw: str) -> _T:
    if not isinstance(raw, str) or not raw:
        raise token_error("missing", "Token is missing")
    if len(raw) > MAX_TOKEN_LENGTH:
        raise token_error("malformed")
    try:
        return token_class(raw)  # type: ignore[arg-type]  # simplejwt types the raw str as Token
    except ExpiredTokenError:
        raise BanterError(
            ErrorCode.TOKEN_EXPIRED, "Token is expired", {"reason": "expired"}
        ) from None
    except _WrongTokenType:
        raise token_error("wrong_type", "Token has the wrong type") from None
    except _Blacklisted:
        raise token_error("revoked", "Token has been revoked") from None
    except TokenError as exc:
        # `from None`: the chain holds the token; keep it out of logged tracebacks.
        raise token_error(_reason(exc)) from None
    except (OverflowError, TypeError, ValueError):
        # PyJWT accepts some claims simplejwt then cannot convert (an `exp` beyond year
        # 9999, or given as a digit string). Only a holder of the key can sign such a token,
        # but it must still be refused, not crash the handshake.
        raise token_error("invalid") from None


def _reason(exc: BaseException) -> str:
    # simplejwt wraps PyJWT's exception (TokenError <- TokenBackendError <- jwt error).
    cause: BaseException | None = exc
    while cause is not None:
        for error_type, reason in _JWT_REASONS:
            if isinstance(cause, error_type):
                return reason
        cause = cause.__cause__
    return "invalid"


def _user_id(payload: dict[str, Any]) -> int:
    value = payload.get(api_settings.USER_ID_CLAIM)
    # simplejwt writes the id as a string; accept an int too, never a bool or other junk.
    user_id: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        user_id = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        user_id = int(value)
    if user_id is not None and 0 < user_id <= _MAX_ID:
        return user_id
    raise token_error("missing_claim")
