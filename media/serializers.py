"""Schema of the upload endpoints and of the attachment shape (media/payloads.py)."""

from __future__ import annotations

from rest_framework import serializers


class UploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file (multipart/form-data)")


class AttachmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="Download path; authorized per request")
    name = serializers.CharField()
    mimeType = serializers.CharField(help_text="Sniffed from the content")
    size = serializers.IntegerField(help_text="Bytes stored (file and thumbnail)")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    thumbnailUrl = serializers.CharField(allow_null=True)
