"""MEDIA_STORAGE=s3: the authorized download answers a redirect to a presigned URL of the
bucket (signed locally by boto3: no cloud is contacted)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import FileResponse

from banter.accounts.models import User
from media.models import Upload
from media.serving import serve

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3(settings: Any) -> None:
    settings.MEDIA_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "banter-media",
                "endpoint_url": "http://minio.internal:9000",
                "region_name": "us-east-1",
                "access_key": "AKIAEXAMPLE",
                "secret_key": "not-a-real-secret",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "signature_version": "s3v4",
                "file_overwrite": False,
            },
        },
    }


@pytest.mark.usefixtures("s3")
def test_a_download_is_a_redirect_to_a_short_lived_presigned_url(user_factory: Any) -> None:
    owner: User = user_factory()
    upload = Upload.objects.create(
        owner=owner,
        file="uploads/2026/12/abc.pdf",
        name="report.pdf",
        mime_type="application/pdf",
        size=10,
    )
    response = serve(upload, "file")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.netloc == "minio.internal:9000"
    assert location.path == "/banter-media/uploads/2026/12/abc.pdf"
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query
    assert query["response-content-type"] == ["application/pdf"]
    assert query["response-content-disposition"][0].startswith("attachment")


def test_a_thumbnail_is_streamed_not_redirected(
    settings: Any, user_factory: Any, media_root: Any
) -> None:
    """Pages that allow only their own origin (CSP) cannot follow a redirect to the bucket:
    thumbnails come through the app even with MEDIA_STORAGE=s3 (the storage here is local)."""
    settings.MEDIA_STORAGE = "s3"
    (media_root / "t.thumb.jpg").write_bytes(b"thumb-bytes")
    upload = Upload.objects.create(
        owner=user_factory(),
        file="f.jpg",
        thumbnail="t.thumb.jpg",
        name="f.jpg",
        mime_type="image/jpeg",
        size=10,
        width=1,
        height=1,
    )
    response = serve(upload, "thumbnail")

    assert isinstance(response, FileResponse)
    assert b"".join(cast(Iterable[bytes], response.streaming_content)) == b"thumb-bytes"
    assert response["Cache-Control"] == "private, no-cache"
