"""Attachments end to end: upload over REST, send over the socket (python-socketio and node's
socket.io-client) or REST, download as a member, a stranger, anonymously and by signed link,
and the refusals, all against a live server."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.client import Clients, Download, RestClient, RestError, User, run_node_script
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e

NODE_SCENARIO = Path(__file__).parent / "node" / "attachments_scenario.mjs"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"
GPS_IFD = 0x8825
MAKE = 0x010F


def jpeg_with_gps(size: tuple[int, int] = (800, 600)) -> bytes:
    """A photo as a phone makes it: EXIF with the maker and where it was taken, a comment."""
    image = Image.new("RGB", size, (30, 120, 200))
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"secret comment")
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the fixture has GPS
    return data


def decoded(download: Download) -> Image.Image:
    image = Image.open(io.BytesIO(download.body))
    image.load()
    return image


def assert_no_metadata(download: Download) -> None:
    image = decoded(download)
    exif = image.getexif()
    assert not exif.get_ifd(GPS_IFD) and MAKE not in exif
    assert b"Exif" not in download.body and b"PhoneMaker" not in download.body
    assert b"secret comment" not in download.body


def assert_code(download: Download, status: int, code: str) -> None:
    assert download.status == status, (download.status, download.body[:200])
    assert download.json()["code"] == code


def history(rest: RestClient, room: dict, user: User) -> list[dict]:
    return list(rest.call("GET", f"/api/rooms/{room['id']}/messages", token=user.access)["results"])


async def test_image_message_over_socketio_reaches_members_only(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice, bob, carol = rest.register("alice"), rest.register("bob"), rest.register("carol")
    room = rest.create_room(alice, "photos", [bob])
    original = jpeg_with_gps((800, 600))
    upload = rest.upload(alice.access, original, "holiday.jpg", "image/jpeg")
    assert upload["mimeType"] == "image/jpeg" and upload["name"] == "holiday.jpg"
    assert (upload["width"], upload["height"]) == (800, 600)
    assert upload["url"] == f"/api/uploads/{upload['id']}/file"
    assert upload["thumbnailUrl"] == f"/api/uploads/{upload['id']}/thumbnail"
    # Before it is sent, the file is the uploader's alone.
    assert rest.get_bytes(upload["url"], alice.access).status == 200
    assert_code(rest.get_bytes(upload["url"], bob.access), 404, "not_found")

    clients = Clients(banter_server.url)
    try:
        a, b = await clients.connect(alice), await clients.connect(bob)
        ack = await a.call(
            "send-message",
            {
                "roomId": room["id"],
                "content": "look where we are",
                "clientId": "photo-1",
                "attachments": [upload["id"]],
            },
        )
        assert ack["ok"] is True, ack
        message = ack["data"]
        assert message["messageType"] == "image" and message["content"] == "look where we are"
        assert message["attachments"] == [upload]
        assert await b.wait_for("message-received") == message
        assert await a.wait_for("message-received") == message
        assert history(rest, room, bob)[-1]["attachments"] == [upload]

        # A member downloads the file and the thumbnail with their token: clean images.
        file = rest.get_bytes(upload["url"], bob.access)
        assert file.status == 200 and file.headers["content-type"] == "image/jpeg"
        assert file.headers["content-disposition"].startswith("inline")
        assert file.headers["x-content-type-options"] == "nosniff"
        assert decoded(file).size == (800, 600) and file.body != original
        assert_no_metadata(file)
        thumb = rest.get_bytes(upload["thumbnailUrl"], bob.access)
        assert thumb.status == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert decoded(thumb).size == (320, 240)
        assert_no_metadata(thumb)

        # A stranger learns nothing; no token is a 401.
        for path in (upload["url"], upload["thumbnailUrl"], f"/api/uploads/{upload['id']}"):
            assert_code(rest.get_bytes(path, carol.access), 404, "not_found")
        assert rest.get_bytes(upload["url"]).status == 401
        assert rest.get_bytes(upload["thumbnailUrl"]).status == 401

        # Signed links work without a token; a tampered one is refused.
        detail = rest.call("GET", f"/api/uploads/{upload['id']}", token=bob.access)
        assert detail["messageId"] == message["id"]
        assert detail["link"].startswith(upload["url"] + "?sig=")
        signed = rest.get_bytes(detail["link"])
        assert signed.status == 200 and signed.body == file.body
        signed_thumb = rest.get_bytes(detail["thumbnailLink"])
        assert signed_thumb.status == 200 and signed_thumb.body == thumb.body
        assert rest.get_bytes(upload["url"] + "?sig=forged").status == 403
        # A file's signature does not open the thumbnail.
        file_sig = detail["link"].split("?", 1)[1]
        assert rest.get_bytes(f"{upload['thumbnailUrl']}?{file_sig}").status == 403

        # Deleting the message closes the files to everyone, signed links included.
        deleted = await a.call("delete-message", {"messageId": message["id"]})
        assert deleted["ok"] is True, deleted
        for token in (bob.access, alice.access):
            assert_code(rest.get_bytes(upload["url"], token), 404, "not_found")
            assert_code(rest.get_bytes(upload["thumbnailUrl"], token), 404, "not_found")
        assert rest.get_bytes(detail["link"]).status == 404
        assert rest.get_bytes(detail["thumbnailLink"]).status == 404
    finally:
        await clients.close()


async def test_file_message_over_rest_downloads_as_an_attachment(
    banter_server: LiveServer, rest: RestClient
) -> None:
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "docs", [bob])
    upload = rest.upload(alice.access, PDF, "report.pdf", "application/pdf")
    assert upload["mimeType"] == "application/pdf" and upload["size"] == len(PDF)
    assert upload["width"] is None and upload["height"] is None
    assert upload["thumbnailUrl"] is None

    clients = Clients(banter_server.url)
    try:
        b = await clients.connect(bob)
        message = rest.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"attachments": [upload["id"]], "content": "the report"},
            token=alice.access,
        )
        assert message["messageType"] == "file" and message["content"] == "the report"
        assert message["attachments"] == [upload]
        received = await b.wait_for("message-received")
        assert received["id"] == message["id"] and received["attachments"] == [upload]
    finally:
        await clients.close()

    file = rest.get_bytes(upload["url"], bob.access)
    assert file.status == 200 and file.body == PDF
    assert file.headers["content-type"] == "application/pdf"
    disposition = file.headers["content-disposition"]
    assert disposition.startswith("attachment") and "report.pdf" in disposition
    assert_code(
        rest.get_bytes(f"/api/uploads/{upload['id']}/thumbnail", bob.access), 404, "not_found"
    )


async def test_attachment_refusals(banter_server: LiveServer, rest: RestClient) -> None:
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "refusals", [bob])
    mine = rest.upload(alice.access, jpeg_with_gps((64, 48)), "mine.jpg")
    clients = Clients(banter_server.url)
    try:
        a, b = await clients.connect(alice), await clients.connect(bob)
        # Only the uploader can attach an upload.
        foreign = await b.call(
            "send-message",
            {"roomId": room["id"], "content": "mine now", "attachments": [mine["id"]]},
        )
        assert foreign["ok"] is False and foreign["error"]["code"] == "forbidden", foreign
        # Once: the second message cannot take it again.
        first = await a.call("send-message", {"roomId": room["id"], "attachments": [mine["id"]]})
        assert first["ok"] is True and first["data"]["messageType"] == "image", first
        again = await a.call("send-message", {"roomId": room["id"], "attachments": [mine["id"]]})
        assert again["ok"] is False and again["error"]["code"] == "conflict", again
        missing = await a.call("send-message", {"roomId": room["id"], "attachments": [987_654_321]})
        assert missing["ok"] is False and missing["error"]["code"] == "not_found", missing
        # Only the one message went out.
        await b.wait_for("message-received")
        assert [m["id"] for m in history(rest, room, alice)] == [first["data"]["id"]]
        assert [m["id"] for m in b.received("message-received")] == [first["data"]["id"]]
    finally:
        await clients.close()

    # The type is the bytes', not the name's: bytes that are no known type, named cat.jpg.
    with pytest.raises(RestError) as refused:
        rest.upload(alice.access, b"\x00" + HTML, "cat.jpg", "image/jpeg")
    assert refused.value.status == 415
    assert refused.value.body["code"] == "unsupported_media_type"
    assert refused.value.body["details"]["mimeType"] == "unknown"
    with pytest.raises(RestError) as anonymous:
        rest.upload(None, PDF, "report.pdf")
    assert anonymous.value.status == 401


async def test_html_is_refused_and_text_is_never_served_as_a_page(
    banter_server: LiveServer, rest: RestClient
) -> None:
    """An HTML page named cat.jpg is markup, whatever its name: refused (415, text/html). A
    plain text file is accepted, and its bytes reach a reader as a download that no browser
    sniffs or runs: text/plain, attachment, nosniff, sandboxed."""
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "html", [bob])
    with pytest.raises(RestError) as refused:
        rest.upload(alice.access, HTML, "cat.jpg", "image/jpeg")
    assert refused.value.status == 415
    assert refused.value.body["code"] == "unsupported_media_type"
    assert refused.value.body["details"]["mimeType"] == "text/html"

    text = b"shopping: eggs, milk\n"
    upload = rest.upload(alice.access, text, "list.txt", "text/plain")
    assert upload["mimeType"] == "text/plain" and upload["width"] is None
    rest.call(
        "POST", f"/api/rooms/{room['id']}/messages", {"attachments": [upload["id"]]}, alice.access
    )
    file = rest.get_bytes(upload["url"], bob.access)
    assert file.status == 200 and file.body == text
    assert file.headers["content-type"] == "text/plain"
    assert file.headers["content-disposition"].startswith("attachment")
    assert file.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in file.headers["content-security-policy"]


def test_oversized_body_is_refused_unread(banter_server: LiveServer, rest: RestClient) -> None:
    """A declared Content-Length above MEDIA_MAX_UPLOAD_BYTES (25 MB) is answered 413 before
    the server reads the body: only a few bytes of the 30 MB are ever sent."""
    alice = rest.register("alice")
    declared = 30_000_000
    connection = http.client.HTTPConnection(banter_server.host, banter_server.port, timeout=10)
    try:
        started = time.monotonic()
        connection.putrequest("POST", "/api/uploads")
        connection.putheader("Authorization", f"Bearer {alice.access}")
        connection.putheader("Content-Type", "multipart/form-data; boundary=xyz")
        connection.putheader("Content-Length", str(declared))
        connection.endheaders()
        connection.send(b"--xyz\r\n")
        response = connection.getresponse()
        body = json.loads(response.read())
        elapsed = time.monotonic() - started
    finally:
        connection.close()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert body["code"] == "payload_too_large"
    assert 25 * 1024 * 1024 <= body["details"]["maxBytes"] < declared
    assert elapsed < 5
    # The server is fine afterwards.
    assert rest.upload(alice.access, PDF, "after.pdf")["mimeType"] == "application/pdf"


async def test_node_client_sends_and_downloads_an_image(
    banter_server: LiveServer, rest: RestClient, tmp_path: Path
) -> None:
    alice, bob, carol = rest.register("alice"), rest.register("bob"), rest.register("carol")
    room = rest.create_room(alice, "node-photos", [bob])
    image = tmp_path / "node.jpg"
    image.write_bytes(jpeg_with_gps((640, 480)))
    result: dict[str, Any] = dict(
        await run_node_script(
            NODE_SCENARIO,
            {
                "url": banter_server.url,
                "tokenA": alice.access,
                "tokenB": bob.access,
                "tokenC": carol.access,
                "roomId": room["id"],
                "imagePath": str(image),
                "caption": "from node",
            },
        )
    )
    assert result["upload"]["status"] == 201, result["upload"]
    upload = result["upload"]["body"]
    assert upload["mimeType"] == "image/jpeg" and upload["name"] == "node.jpg"
    assert (upload["width"], upload["height"]) == (640, 480)
    assert upload["thumbnailUrl"] == f"/api/uploads/{upload['id']}/thumbnail"

    assert result["ack"]["ok"] is True, result["ack"]
    message = result["ack"]["data"]
    assert message["messageType"] == "image" and message["content"] == "from node"
    assert message["attachments"] == [upload]
    assert result["receivedByBob"] == message
    assert result["receivedByAlice"] == message

    bob_download = result["bobDownload"]
    assert bob_download["status"] == 200 and bob_download["contentType"] == "image/jpeg"
    assert bob_download["length"] > 0
    assert result["bobThumbnail"]["status"] == 200
    # The bytes node got are the ones python gets.
    mine = rest.get_bytes(upload["url"], bob.access)
    assert bob_download["length"] == len(mine.body)
    assert bob_download["sha256"] == hashlib.sha256(mine.body).hexdigest()
    assert result["carolDownload"]["status"] == 404
    assert result["carolDownload"]["body"]["code"] == "not_found"
    assert result["anonymousDownload"]["status"] == 401
