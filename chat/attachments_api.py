"""Reading attachments over REST: an upload's description with signed links, and the
bytes of its file and thumbnail, for the readers chat/attachments.py allows.

Every request is authorized: the paths in message payloads are the same for all members
(a broadcast is encoded once), so the path alone grants nothing. A member sends their
token as for any API call; a signed link (`?sig=`) stands in for it until it expires.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode, not_found
from banter.core.timestamps import iso_utc
from chat.attachments import readable_upload
from chat.serializers import ErrorOutputSerializer
from media import links
from media.payloads import attachment_payload, file_path, thumbnail_path
from media.serializers import AttachmentOutputSerializer
from media.serving import Variant, serve


class UploadDetailOutputSerializer(AttachmentOutputSerializer):
    messageId = serializers.IntegerField(allow_null=True, help_text="null until sent")
    link = serializers.CharField(help_text="`url` with a signature: works without a login")
    thumbnailLink = serializers.CharField(allow_null=True)
    linkExpiresAt = serializers.DateTimeField()


def _reader(request: Request) -> User | None:
    user = request.user
    return user if user is not None and user.is_authenticated else None


class UploadDetailApi(APIView):
    @extend_schema(
        operation_id="uploads_retrieve",
        responses={
            200: UploadDetailOutputSerializer,
            **dict.fromkeys((401, 404), ErrorOutputSerializer),
        },
    )
    def get(self, request: Request, upload_id: int) -> Response:
        upload = readable_upload(_reader(request), upload_id)
        token, expires_at = links.sign(upload.pk, "file")
        body: dict[str, Any] = {
            **attachment_payload(upload),
            "messageId": upload.message_id,
            "link": f"{file_path(upload.pk)}?sig={quote(token)}",
            "thumbnailLink": None,
            "linkExpiresAt": iso_utc(expires_at),
        }
        if upload.thumbnail:
            thumb_token, _ = links.sign(upload.pk, "thumbnail")
            body["thumbnailLink"] = f"{thumbnail_path(upload.pk)}?sig={quote(thumb_token)}"
        return Response(body)


class _UploadBytesApi(APIView):
    # A signed link authorizes without a login, so the view decides (readable_upload).
    permission_classes: list[Any] = []
    # Its own budget: a history page of images must not spend the API's.
    throttle_scope = "media"
    variant: Variant = "file"

    def get(self, request: Request, upload_id: int) -> Any:
        signature = request.query_params.get("sig")
        signed = signature is not None and links.is_valid(signature, upload_id, self.variant)
        if signature is not None and not signed:
            raise BanterError(ErrorCode.FORBIDDEN, "The download link has expired or is not valid")
        reader = _reader(request)
        if reader is None and not signed:
            raise exceptions.NotAuthenticated()
        upload = readable_upload(reader, upload_id, signed=signed)
        if self.variant == "thumbnail" and not upload.thumbnail:
            raise not_found("Thumbnail")
        return serve(upload, self.variant)


_BYTES_SCHEMA = extend_schema(
    parameters=[
        OpenApiParameter("sig", str, description="A signed link's signature (instead of a login)")
    ],
    responses={
        (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The bytes"),
        302: OpenApiResponse(description="With MEDIA_STORAGE=s3: a presigned bucket URL"),
        **dict.fromkeys((401, 403, 404), ErrorOutputSerializer),
    },
)


class UploadFileApi(_UploadBytesApi):
    variant: Variant = "file"

    @_BYTES_SCHEMA
    def get(self, request: Request, upload_id: int) -> Any:
        return super().get(request, upload_id)


class UploadThumbnailApi(_UploadBytesApi):
    variant: Variant = "thumbnail"

    @_BYTES_SCHEMA
    def get(self, request: Request, upload_id: int) -> Any:
        return super().get(request, upload_id)
