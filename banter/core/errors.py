"""One error vocabulary for REST and sockets (PROTOCOL.md "Acks and errors").

Services raise `BanterError`; the DRF exception handler renders it as
`{"code", "message", "details"}` with its HTTP status, and socket dispatch renders the same
dict inside an ack `{"ok": false, "error": ...}` or an `error` event.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    QUOTA_EXCEEDED = "quota_exceeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"
    INTERNAL_ERROR = "internal_error"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.QUOTA_EXCEEDED: 403,
    ErrorCode.INSUFFICIENT_FUNDS: 402,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.INTERNAL_ERROR: 500,
}


class BanterError(Exception):
    """A failure the client should see: a code from ErrorCode, a human message, details."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.http_status = http_status or HTTP_STATUS[code]

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"BanterError({self.code.value!r}, {self.message!r}, {self.details!r})"


def validation_error(message: str, **fields: Any) -> BanterError:
    return BanterError(ErrorCode.VALIDATION_ERROR, message, {"fields": fields} if fields else {})


def not_found(what: str) -> BanterError:
    return BanterError(ErrorCode.NOT_FOUND, f"{what} not found")


def forbidden(message: str) -> BanterError:
    return BanterError(ErrorCode.FORBIDDEN, message)


def conflict(message: str, **details: Any) -> BanterError:
    return BanterError(ErrorCode.CONFLICT, message, details)


def rate_limited(retry_after: float) -> BanterError:
    # Whole seconds, rounded up, so a client that waits exactly retryAfter is let through.
    seconds = max(1, int(-(-retry_after // 1)))
    return BanterError(ErrorCode.RATE_LIMITED, "Too many requests", {"retryAfter": seconds})
