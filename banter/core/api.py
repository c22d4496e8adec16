"""REST rendering of the shared error vocabulary."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken

from banter.core.errors import BanterError, ErrorCode, rate_limited


def _to_banter_error(exc: Exception) -> BanterError | None:
    if isinstance(exc, BanterError):
        return exc
    if isinstance(exc, Http404 | drf.NotFound):
        return BanterError(ErrorCode.NOT_FOUND, "Not found")
    if isinstance(exc, DjangoPermissionDenied | drf.PermissionDenied):
        message = str(getattr(exc, "detail", "")) or "You do not have permission to do this"
        return BanterError(ErrorCode.FORBIDDEN, message)
    if isinstance(exc, InvalidToken):
        expired = "expired" in str(exc.detail).lower()
        code = ErrorCode.TOKEN_EXPIRED if expired else ErrorCode.UNAUTHORIZED
        return BanterError(code, "Token is expired" if expired else "Token is invalid")
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return BanterError(ErrorCode.UNAUTHORIZED, str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return rate_limited(getattr(exc, "wait", None) or 1)
    if isinstance(exc, drf.ValidationError):
        return BanterError(
            ErrorCode.VALIDATION_ERROR, "Invalid input", {"fields": exc.detail}, exc.status_code
        )
    if isinstance(exc, drf.APIException):
        # ParseError, MethodNotAllowed, UnsupportedMediaType, NotAcceptable: client mistakes.
        code = ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR
        return BanterError(code, str(exc.detail), {}, exc.status_code)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as {code, message, details}; unknown exceptions stay 500s."""
    error = _to_banter_error(exc)
    if error is None:
        return None
    response = Response(error.as_dict(), status=error.http_status)
    if error.code is ErrorCode.RATE_LIMITED:
        response["Retry-After"] = str(error.details["retryAfter"])
    if error.http_status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
