"""`POST /api/uploads`: store a file for a later message (media/services.py).

Downloads are chat's (chat/attachments_api.py): who may read a file depends on the room of
the message that carries it.
"""

from __future__ import annotations

from typing import BinaryIO, cast

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.errors import validation_error
from banter.core.throttling import charge_event_rate
from chat.serializers import ErrorOutputSerializer
from media import payloads, services
from media.serializers import AttachmentOutputSerializer, UploadInputSerializer


class UploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="uploads_create",
        request={"multipart/form-data": UploadInputSerializer},
        responses={
            201: OpenApiResponse(AttachmentOutputSerializer, description="Stored"),
            **dict.fromkeys((400, 401, 403, 413, 415, 429), ErrorOutputSerializer),
        },
    )
    def post(self, request: Request) -> Response:
        user = cast(User, request.user)
        charge_event_rate("upload", user.pk)
        files = request.FILES.getlist("file")
        if len(files) != 1:
            raise validation_error(
                "Send exactly one file, in the multipart field `file`",
                file="missing" if not files else "more than one",
            )
        uploaded = cast(UploadedFile, files[0])
        upload = services.upload_create(
            owner=user,
            source=cast(BinaryIO, uploaded),
            size=uploaded.size or 0,
            name=uploaded.name,
            declared_type=uploaded.content_type,
        )
        return Response(payloads.attachment_payload(upload), status=status.HTTP_201_CREATED)
