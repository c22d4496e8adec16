"""/api/docs/ (Swagger UI) loads its scripts, styles and icons from our own static files."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

# src= / href= attributes and JavaScript string literals holding a URL.
_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|["']((?:https?:)?//[^"']+)["']""")


@pytest.mark.django_db
def test_swagger_ui_references_no_external_host(api_client: APIClient) -> None:
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = [a or b for a, b in _URL.findall(html)]
    assert any("swagger-ui" in url for url in urls), html  # the page does load Swagger UI
    external = [url for url in urls if re.match(r"(?:https?:)?//", url)]
    assert external == [], external
    # Every asset is a local static file (served by the proxy, or by Django with DEBUG).
    assets = [url for url in urls if re.search(r"\.(?:js|css|png|ico)(?:\?|$)", url)]
    assert assets and all(url.startswith("/static/") for url in assets), assets
