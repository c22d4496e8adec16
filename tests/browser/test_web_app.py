"""The web chat page without a browser: the HTML shell, its static files, the vendored client."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.views import serve
from django.test import Client, RequestFactory, override_settings

from tests.services import missing

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "banter" / "web" / "static" / "web"
WORKER = ROOT / "banter" / "web" / "templates" / "web" / "sw.js"
NODE_DIST = ROOT / "node_modules" / "socket.io-client" / "dist"
ASSETS = ("web/app.js", "web/calls.js", "web/app.css", "web/vendor/socket.io.min.js")


@pytest.mark.parametrize("name", ["socket.io.min.js", "socket.io.min.js.map"])
def test_vendored_socketio_client_is_the_npm_one(name: str) -> None:
    """`make web-assets` copies the npm package's browser build; after an upgrade of
    socket.io-client in package-lock.json this fails until the copy is refreshed."""
    upstream = NODE_DIST / name
    if not upstream.exists():
        missing("node_modules/socket.io-client missing: run `make node-deps` (npm ci)")
    vendored = STATIC / "vendor" / name
    assert vendored.read_bytes() == upstream.read_bytes(), (
        f"{vendored.relative_to(ROOT)} differs from node_modules: run `make web-assets`"
    )


def test_page_is_served_at_root_with_its_assets() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for asset in ASSETS:
        assert f'"/static/{asset}"' in html
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "banter-demo-pass" not in html  # the demo hint is for DEBUG servers only


@override_settings(DEBUG=True)
def test_debug_page_tells_the_demo_logins() -> None:
    html = Client().get("/").content.decode()
    assert "alice, bob, carol" in html and "banter-demo-pass" in html


def test_page_only_answers_get_and_head() -> None:
    assert Client().post("/").status_code == 405


@pytest.mark.parametrize("asset", ASSETS)
def test_assets_are_collected(asset: str) -> None:
    # What collectstatic copies for the proxy in production ...
    assert finders.find(asset)
    # ... and what Django serves itself under DEBUG (`make run`).
    with override_settings(DEBUG=True):
        response = serve(RequestFactory().get(f"/static/{asset}"), asset)
    assert response.status_code == 200


@pytest.mark.parametrize("script", [STATIC / "app.js", STATIC / "calls.js", WORKER])
def test_page_script_never_parses_html(script: Path) -> None:
    """User content is set as text only; keep HTML-parsing sinks out of the page script (and
    out of the service worker, which shows other users' messages in notifications)."""
    source = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink


def test_service_worker_is_served_at_the_root() -> None:
    """At /sw.js, so that its scope can be / (the page); revalidated on every update check;
    under a policy that lets it fetch nothing."""
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert response["Cache-Control"] == "no-cache"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert "Service-Worker-Allowed" not in response  # not needed at the root
    # A template only to be found: served exactly as written, nothing substituted.
    source = response.content.decode()
    assert source == WORKER.read_text()
    assert 'addEventListener("push"' in source and "showNotification(" in source
    assert 'addEventListener("notificationclick"' in source
    assert 'postMessage({ type: "open-room", roomId })' in source
    assert "openWindow(" in source and "/?room=" in source
    assert 'addEventListener("fetch"' not in source  # no caching, no request handling


def test_service_worker_only_answers_get_and_head() -> None:
    assert Client().post("/sw.js").status_code == 405
    assert Client().head("/sw.js").status_code == 200
