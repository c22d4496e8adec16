"""What a file is, judged by its bytes: the client's Content-Type and file name are claims,
and a claim is what a hostile upload lies about (an HTML page named cat.jpg)."""

from __future__ import annotations

import codecs

import filetype

# filetype reads at most this much: the magic numbers of every type it knows are within it.
HEAD_BYTES = 8192
TEXT = "text/plain"


def sniff(head: bytes) -> str | None:
    """The MIME type of a file that starts with `head`, or None when it is not recognised.

    A magic number decides (filetype); with none, UTF-8 without NUL bytes is plain text.
    """
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    return TEXT if _is_text(head) else None


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        # final=False: `head` may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
