"""Images made safe to hand out: checked for size before decoding (decompression bombs),
turned upright, re-encoded without their metadata (EXIF, GPS, XMP, comments), and
thumbnailed. Pure functions over bytes; media/services.py stores what they return."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from banter.core.errors import BanterError, ErrorCode

# Sniffed MIME type -> Pillow's format name, for the types re-encoded here.
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}


# Image.info keys that are rendering, not metadata (EXIF, XMP, comments, text chunks go).
_RENDERING_INFO = frozenset({"transparency", "duration", "loop", "background", "disposal"})


@dataclass(frozen=True, slots=True)
class CleanImage:
    data: bytes
    width: int
    height: int
    thumbnail: bytes
    thumbnail_type: str  # "image/jpeg", or "image/png" when the image has transparency


def not_an_image(mime_type: str) -> BanterError:
    return BanterError(
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        "The file is not a readable image",
        {"mimeType": mime_type},
    )


def too_many_pixels(pixels: int, max_pixels: int) -> BanterError:
    return BanterError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        "The image has too many pixels",
        {"pixels": pixels, "maxPixels": max_pixels},
    )


def clean_image(
    source: BinaryIO, mime_type: str, *, max_pixels: int, thumbnail_size: int
) -> CleanImage:
    """The image re-encoded in its own format without metadata, and its thumbnail.

    Refuses (BanterError) an image Pillow cannot read and one with more than `max_pixels`
    pixels (all frames of an animation counted), before anything is decoded."""
    fmt = FORMATS[mime_type]
    with warnings.catch_warnings():
        # Pillow's own guard warns above Image.MAX_IMAGE_PIXELS: a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(source, formats=[fmt])
            frames = getattr(image, "n_frames", 1)
            pixels = image.width * image.height * frames
            if pixels > max_pixels:
                raise too_many_pixels(pixels, max_pixels)
            return _reencode(image, fmt, frames, thumbnail_size)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise too_many_pixels(0, max_pixels) from error
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
            raise not_an_image(mime_type) from error


def _reencode(image: Image.Image, fmt: str, frames: int, thumbnail_size: int) -> CleanImage:
    options: dict[str, object] = {}
    icc = image.info.get("icc_profile")
    if icc:
        options["icc_profile"] = icc  # colour, not metadata about the person
    if frames > 1:
        # Animated GIF/WebP: every frame, timing and loop kept; no metadata is passed on.
        options.update(save_all=True, loop=image.info.get("loop", 0))
        if "duration" in image.info:
            options["duration"] = image.info["duration"]
        first = image.copy()
        clean = image
    else:
        # Upright first: the orientation lives in the EXIF that is about to be dropped.
        clean = ImageOps.exif_transpose(image) or image
        clean.load()
        first = clean
        if fmt == "JPEG":
            options.update(quality=90, optimize=True)
        if fmt == "WEBP":
            options.update(quality=90)
    # Some encoders fall back to what was read (a JPEG's comment, XMP): only what shapes
    # the pixels and the animation is kept.
    clean.info = {key: value for key, value in clean.info.items() if key in _RENDERING_INFO}
    out = io.BytesIO()
    clean.save(out, format=fmt, **options)
    thumbnail, thumbnail_type = _thumbnail(first, thumbnail_size)
    return CleanImage(out.getvalue(), first.width, first.height, thumbnail, thumbnail_type)


def _thumbnail(image: Image.Image, size: int) -> tuple[bytes, str]:
    thumb = image.copy()
    thumb.thumbnail((size, size))
    out = io.BytesIO()
    if thumb.mode in ("RGBA", "LA", "PA") or "transparency" in thumb.info:
        thumb.convert("RGBA").save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png"
    thumb.convert("RGB").save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue(), "image/jpeg"
