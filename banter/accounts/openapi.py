"""The OpenAPI security scheme of Banter's bearer JWT, for drf-spectacular.

Without it drf-spectacular cannot tell what our JWTAuthentication (a simplejwt subclass that
verifies through banter.accounts.tokens) expects, warns on every view, and Swagger UI at
/api/docs/ offers no "Authorize" button. Imported by AccountsConfig.ready().
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "banter.accounts.authentication.JWTAuthentication"
    # Exactly this class: the logout view's OptionalJWTAuthentication declares the same
    # scheme, optional, in its extend_schema (two classes may not share one component name).
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /api/auth/token (or /api/auth/register, "
            "/api/auth/refresh): `Authorization: Bearer <access>`.",
        }
