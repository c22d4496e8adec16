"""What a file is, judged by its bytes: the client's Content-Type and file name are claims,
and a claim is what a hostile upload lies about (an HTML page named cat.jpg)."""

from __future__ import annotations

import codecs
import mimetypes
import re

import filetype

# filetype reads at most this much: the magic numbers of every type it knows are within it.
HEAD_BYTES = 8192
TEXT = "text/plain"
HTML = "text/html"
XML = "text/xml"

# The WHATWG MIME Sniffing Standard's HTML patterns (section 7.1): text that a browser
# would render as a page if anything ever served it as one. Never "plain text" here.
_MARKUP = re.compile(
    rb"\s*<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|"
    rb"br|p|!--|svg|math)(?:[\s>/])",
    re.IGNORECASE,
)
_XML = re.compile(rb"\s*<\?xml", re.IGNORECASE)
# Declared types that name binary content: a claim of one of these that the bytes do not
# bear out is refused (a "photo.jpg" that is text), though the claim never admits anything.
_BINARY_FAMILIES = ("image/", "audio/", "video/", "application/pdf")


def sniff(head: bytes) -> str | None:
    """The MIME type of a file that starts with `head`, or None when it is not recognised.

    A magic number decides (filetype); with none, UTF-8 without NUL bytes is plain text,
    unless it starts like an HTML page or an XML document (SVG included).
    """
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if not _is_text(head):
        return None
    if _MARKUP.match(head):
        return HTML
    if _XML.match(head):
        return XML
    return TEXT


def contradicts(sniffed: str, declared_type: str | None, name: str | None) -> bool:
    """Whether the client's claim (its Content-Type, else its file name's extension) names a
    binary family the sniffed type is not in: `photo.jpg` holding text or a PDF."""
    claimed = (declared_type or "").split(";")[0].strip().lower()
    if not claimed or claimed == "application/octet-stream":
        claimed = (mimetypes.guess_type(name or "")[0] or "").lower()
    for family in _BINARY_FAMILIES:
        if claimed.startswith(family):
            return not sniffed.startswith(family)
    return False


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        # final=False: `head` may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
