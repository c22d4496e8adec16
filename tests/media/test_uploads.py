"""POST /api/uploads: what is accepted, what is refused, and that a refusal stores nothing."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from banter.accounts.models import User
from media.models import Upload
from media.services import clean_file_name
from tests.chat.test_api import assert_error
from tests.media.conftest import jpeg_bytes, png_bytes, stored_files

pytestmark = pytest.mark.django_db

AuthClient = Any


def post_file(
    client: Any, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"
) -> Any:
    return client.post(
        "/api/uploads",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


@pytest.fixture
def alice(user_factory: Any) -> User:
    return user_factory(username="alice")


@pytest.fixture
def client(auth_client: AuthClient, alice: User) -> Any:
    return auth_client(alice)


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with a tiny (bogus) body: what a
    decompression bomb looks like before anything is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


class TestAccepted:
    def test_an_image_is_measured_thumbnailed_and_described(
        self, client: Any, media_root: Path
    ) -> None:
        response = post_file(client, jpeg_bytes((800, 600)), name="holiday.jpg")

        assert response.status_code == 201, response.json()
        body = response.json()
        upload = Upload.objects.get()
        assert body == {
            "id": upload.pk,
            "url": f"/api/uploads/{upload.pk}/file",
            "name": "holiday.jpg",
            "mimeType": "image/jpeg",
            "size": upload.size,
            "width": 800,
            "height": 600,
            "thumbnailUrl": f"/api/uploads/{upload.pk}/thumbnail",
        }
        assert len(stored_files(media_root)) == 2
        thumb = Image.open(media_root / upload.thumbnail)
        assert max(thumb.size) == 320

    def test_exif_and_gps_are_stripped_and_the_image_is_turned_upright(
        self, client: Any, media_root: Path
    ) -> None:
        original = jpeg_bytes((400, 200), gps=True, orientation=6)  # 6: rotate 90 degrees
        assert b"PhoneMaker" in original and b"secret comment" in original

        body = post_file(client, original).json()

        stored = (media_root / Upload.objects.get().file).read_bytes()
        assert b"PhoneMaker" not in stored and b"secret comment" not in stored
        image = Image.open(io.BytesIO(stored))
        assert not image.getexif()
        assert image.size == (200, 400)
        assert (body["width"], body["height"]) == (200, 400)

    def test_an_animation_keeps_its_frames_and_loses_its_comment(
        self, client: Any, media_root: Path
    ) -> None:
        frames = [Image.new("RGB", (50, 40), (i * 100, 0, 0)) for i in range(3)]
        out = io.BytesIO()
        frames[0].save(
            out,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            comment=b"where I live",
            duration=100,
            loop=0,
        )
        assert b"where I live" in out.getvalue()

        body = post_file(client, out.getvalue(), name="wave.gif").json()

        stored = (media_root / Upload.objects.get().file).read_bytes()
        assert b"where I live" not in stored
        assert getattr(Image.open(io.BytesIO(stored)), "n_frames", 1) == 3
        assert (body["mimeType"], body["width"], body["height"]) == ("image/gif", 50, 40)

    def test_a_pdf_is_stored_as_is_without_thumbnail(self, client: Any, media_root: Path) -> None:
        pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
        body = post_file(
            client, pdf, name="report.pdf", content_type="application/octet-stream"
        ).json()

        assert body["mimeType"] == "application/pdf"
        assert body["width"] is None and body["thumbnailUrl"] is None
        assert (media_root / Upload.objects.get().file).read_bytes() == pdf

    def test_the_type_comes_from_the_content_not_the_claim(self, client: Any) -> None:
        body = post_file(client, png_bytes(), name="looks.jpg", content_type="image/jpeg").json()
        assert body["mimeType"] == "image/png"

    def test_plain_text_is_recognised(self, client: Any) -> None:
        body = post_file(
            client, "notes: café\n".encode(), name="notes.txt", content_type="text/html"
        ).json()
        assert body["mimeType"] == "text/plain"

    @pytest.mark.parametrize(
        ("given", "kept"),
        [("../../etc/passwd", "passwd"), ("C:\\Users\\me\\a.png", "a.png"), ("\x00\x1f", "file")],
    )
    def test_file_names_are_cleaned(self, given: str, kept: str) -> None:
        assert clean_file_name(given) == kept

    def test_a_long_name_keeps_its_extension(self) -> None:
        cleaned = clean_file_name("x" * 400 + ".jpeg")
        assert len(cleaned) == 255 and cleaned.endswith(".jpeg")


class TestRefused:
    def test_anonymous(self, api_client: Any) -> None:
        assert_error(post_file(api_client, png_bytes()), 401, "unauthorized")

    def test_no_file(self, client: Any) -> None:
        response = client.post("/api/uploads", {"other": "x"}, format="multipart")
        assert_error(response, 400, "validation_error")

    def test_empty_file(self, client: Any, media_root: Path) -> None:
        assert_error(post_file(client, b""), 400, "validation_error")
        assert stored_files(media_root) == []

    def test_oversize(self, client: Any, settings: Any, media_root: Path) -> None:
        settings.BANTER = {**settings.BANTER, "MEDIA_MAX_UPLOAD_BYTES": 1000}
        body = assert_error(
            post_file(client, b"%PDF-1.4\n" + b"x" * 2000), 413, "payload_too_large"
        )
        assert body["details"]["maxBytes"] == 1000
        assert stored_files(media_root) == [] and not Upload.objects.exists()

    def test_wrong_type_by_content(self, client: Any, media_root: Path) -> None:
        html = b"\x00<html><script>alert(1)</script></html>"
        body = assert_error(post_file(client, html, name="cat.jpg"), 415, "unsupported_media_type")
        assert body["details"]["mimeType"] == "unknown"
        assert stored_files(media_root) == []

    @pytest.mark.parametrize(
        ("data", "name", "declared", "sniffed"),
        [
            (
                b"<!DOCTYPE html><html><script>alert(1)</script></html>",
                "cat.jpg",
                "image/jpeg",
                "text/html",
            ),
            (b"  <script>alert(1)</script>", "notes.txt", "text/plain", "text/html"),
            (
                b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                "a.svg",
                "image/svg+xml",
                "text/xml",
            ),
            (b"<svg onload=alert(1)>", "a.png", "image/png", "text/html"),
        ],
    )
    def test_markup_is_never_plain_text(
        self, client: Any, media_root: Path, data: bytes, name: str, declared: str, sniffed: str
    ) -> None:
        body = assert_error(
            post_file(client, data, name=name, content_type=declared), 415, "unsupported_media_type"
        )
        assert body["details"]["mimeType"] == sniffed
        assert stored_files(media_root) == []

    @pytest.mark.parametrize(
        ("data", "name", "declared"),
        [
            (b"this is not really a picture", "fake.png", "image/png"),
            (b"this is not really a picture", "fake.png", "application/octet-stream"),
            (b"%PDF-1.4\n%%EOF\n", "scan.jpg", "image/jpeg"),
            (b"plain words", "song.mp3", "audio/mpeg"),
        ],
    )
    def test_a_claimed_type_the_content_contradicts(
        self, client: Any, media_root: Path, data: bytes, name: str, declared: str
    ) -> None:
        body = assert_error(
            post_file(client, data, name=name, content_type=declared), 415, "unsupported_media_type"
        )
        assert "does not match" in body["message"]
        assert stored_files(media_root) == []

    def test_a_type_that_is_not_allowed(self, client: Any, settings: Any) -> None:
        settings.BANTER = {**settings.BANTER, "MEDIA_ALLOWED_TYPES": ("image/png",)}
        body = assert_error(post_file(client, jpeg_bytes()), 415, "unsupported_media_type")
        assert body["details"] == {"mimeType": "image/jpeg", "allowed": ["image/png"]}

    def test_a_broken_image(self, client: Any, media_root: Path) -> None:
        broken = jpeg_bytes()[:200]
        assert_error(post_file(client, broken), 415, "unsupported_media_type")
        assert stored_files(media_root) == []

    def test_a_decompression_bomb_is_refused_unread(self, client: Any, media_root: Path) -> None:
        bomb = huge_png(60_000, 60_000)  # 3.6 billion pixels in a few hundred bytes
        assert len(bomb) < 1000
        body = assert_error(post_file(client, bomb, name="bomb.png"), 413, "payload_too_large")
        assert body["details"]["maxPixels"] == 50_000_000
        assert stored_files(media_root) == []

    def test_the_quota(self, client: Any, settings: Any, media_root: Path, alice: User) -> None:
        first = post_file(client, png_bytes()).json()
        settings.BANTER = {**settings.BANTER, "MEDIA_QUOTA_BYTES": first["size"] + 10}

        body = assert_error(post_file(client, png_bytes((300, 300))), 403, "quota_exceeded")
        assert body["details"]["usedBytes"] == first["size"]
        assert Upload.objects.count() == 1 and len(stored_files(media_root)) == 2

    def test_the_upload_rate(self, client: Any, settings: Any) -> None:
        settings.BANTER = {
            **settings.BANTER,
            "RATE_LIMITS": {**settings.BANTER["RATE_LIMITS"], "upload": "2/60/2"},
        }
        assert post_file(client, png_bytes()).status_code == 201
        assert post_file(client, png_bytes()).status_code == 201
        assert_error(post_file(client, png_bytes()), 429, "rate_limited")

    def test_a_failed_insert_removes_the_stored_files(
        self, client: Any, media_root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def fail(**_: Any) -> None:
            raise RuntimeError("database gone")

        monkeypatch.setattr(Upload.objects, "create", fail)
        with pytest.raises(RuntimeError):
            post_file(client, jpeg_bytes())
        assert stored_files(media_root) == []
