"""The OpenAPI schema validates without a warning and declares the bearer JWT, so Swagger UI
at /api/docs/ has a working "Authorize" (`manage.py spectacular --validate --fail-on-warn`)."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command


def test_schema_validates_with_no_warning_and_declares_bearer_jwt(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    wallet = schema["paths"]["/api/wallet"]["get"]
    assert {"bearerAuth": []} in wallet["security"] and {} not in wallet["security"]
    # Logout takes a refresh token, with or without a (possibly expired) access token.
    assert schema["paths"]["/api/auth/logout"]["post"]["security"] == [{"bearerAuth": []}, {}]
    login = schema["paths"]["/api/auth/token"]["post"]
    assert login["security"] == [{}]
