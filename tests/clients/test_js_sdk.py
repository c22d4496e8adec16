"""The JavaScript client SDK (clients/js): its committed generated files and build are current,
the web page's copy is the build, and its unit tests pass (node --test).

Live-server tests of the SDK: tests/e2e/test_js_sdk.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scripts import gen_client_protocol as gen
from tests.services import missing, require_node

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "clients" / "js"
DIST = SDK / "dist"
VENDOR = ROOT / "banter" / "web" / "static" / "web" / "vendor" / "banter-client"
TSC = ROOT / "node_modules" / "typescript" / "bin" / "tsc"


def test_protocol_types_are_generated_from_the_current_server() -> None:
    """clients/js/src/protocol.ts is what scripts/gen_client_protocol.py makes of the event
    table and the payload types today: a changed payload or event fails until `make sdk`."""
    assert gen.PROTOCOL_TS.read_text() == gen.render_protocol(), (
        "clients/js/src/protocol.ts is out of date: run `make sdk`"
    )


def test_every_event_name_the_server_declares_is_typed() -> None:
    """A server -> client event constant added to an app's payloads module without a line in
    the generator's SERVER_EVENTS fails here."""
    from banter.notifications import handlers as notification_handlers
    from banter.notifications import services as notification_services
    from calls import payloads as calls
    from chat import payloads as chat
    from presence import payloads as presence

    declared = {
        value
        for module in (chat, calls, presence, notification_services, notification_handlers)
        for name, value in vars(module).items()
        if name.isupper()
        and isinstance(value, str)
        and name.startswith(("CALL_", "MESSAGE_", "USER_", "ROOM_", "PRESENCE_", "NOTIFICATION"))
    }
    assert declared - set(gen.server_events()) == set()


def test_acks_with_a_payload_type_are_typed() -> None:
    """Every client event's payload is typed; acks are typed except the `{}` ones."""
    untyped = {name for name, (_, ack) in gen.client_events().items() if ack is None}
    assert untyped == {"typing-start", "typing-stop", "call:signal"}
    assert all(payload is not None for payload, _ in gen.client_events().values())


@pytest.mark.e2e
def test_openapi_types_are_generated_from_the_current_schema() -> None:
    if shutil.which("node") is None or not gen.OPENAPI_TYPESCRIPT.exists():
        missing("node or node_modules/openapi-typescript missing: run `make node-deps`")
    assert gen.OPENAPI_TS.read_text() == gen.render_openapi(), (
        "clients/js/src/openapi.ts is out of date: run `make sdk`"
    )


@pytest.mark.e2e
def test_dist_is_the_build_of_src(tmp_path: Path) -> None:
    """clients/js/dist is committed (so `make run` needs no node): it must be what tsc makes
    of src today."""
    if shutil.which("node") is None or not TSC.exists():
        missing("node or node_modules/typescript missing: run `make node-deps`")
    subprocess.run(
        ["node", str(TSC), "-p", str(SDK), "--outDir", str(tmp_path)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    built = {path.relative_to(tmp_path): path.read_bytes() for path in tmp_path.rglob("*")}
    committed = {path.relative_to(DIST): path.read_bytes() for path in DIST.rglob("*")}
    assert built.keys() == committed.keys()
    stale = [str(name) for name in built if built[name] != committed[name]]
    assert stale == [], f"clients/js/dist is stale ({stale}): run `make sdk`"


def test_the_web_page_has_the_current_build() -> None:
    """`make web-assets` copies the SDK's build (its .js files) into the page's static files."""
    built = {path.name: path.read_bytes() for path in DIST.glob("*.js")}
    vendored = {path.name: path.read_bytes() for path in VENDOR.glob("*.js")}
    assert built, "clients/js/dist is empty: run `make sdk`"
    assert vendored == built, f"{VENDOR.relative_to(ROOT)} differs: run `make web-assets`"


@pytest.mark.e2e
def test_types_accept_the_protocol_and_refuse_what_it_does_not_say() -> None:
    """clients/js/test/types_check.ts: typed calls, acks, events and REST compile; a wrong
    payload, event name, ack field or missing path parameter does not (@ts-expect-error)."""
    if shutil.which("node") is None or not TSC.exists():
        missing("node or node_modules/typescript missing: run `make node-deps`")
    result = subprocess.run(
        ["node", str(TSC), "-p", str(SDK / "test")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_page_imports_the_sdk_from_its_static_files() -> None:
    """app.js imports the copy by a relative path (an ES module, no build step, no CDN), and
    collectstatic finds every module of it."""
    from django.contrib.staticfiles import finders

    app = (ROOT / "banter" / "web" / "static" / "web" / "app.js").read_text()
    assert 'from "./vendor/banter-client/index.js"' in app
    for module in DIST.glob("*.js"):
        assert finders.find(f"web/vendor/banter-client/{module.name}"), module.name


@pytest.mark.e2e
def test_sdk_unit_tests() -> None:
    node = require_node()
    result = subprocess.run(
        [node, "--test", str(SDK / "test" / "unit.test.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
