"""The request body cap in front of Django (banter/ops/body_limit.py): a body over the limit
is refused before the application has read it, declared or not."""

from __future__ import annotations

from typing import Any

import orjson

from banter.ops.body_limit import BodyLimit, limit_request_bodies
from banter.wiring import MULTIPART_OVERHEAD, OTHER_BODY_LIMIT, body_limit


class Recorder:
    """An ASGI app that reads the whole body as Django's handler does, then answers 200."""

    def __init__(self) -> None:
        self.read = b""
        self.called = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # Django: RequestAborted, no response
            self.read += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def run(
    app: Any, chunks: list[bytes], length: int | None
) -> tuple[list[dict[str, Any]], int]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    scope = {"type": "http", "path": "/api/uploads", "method": "POST", "headers": headers}
    pending = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    handed = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal handed
        if handed < len(pending):
            handed += 1
            return pending[handed - 1]
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, handed


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = Recorder()
    sent, handed = await run(
        limit_request_bodies(inner, lambda path: BodyLimit(100, 100)), [b"x" * 10], 10_000
    )

    assert not inner.called and handed == 0
    assert sent[0]["status"] == 413
    body = orjson.loads(sent[1]["body"])
    assert body == {
        "code": "payload_too_large",
        "message": "The request body is larger than 100 bytes",
        "details": {"maxBytes": 100},
    }


async def test_a_body_that_grows_past_the_limit_is_cut_off() -> None:
    inner = Recorder()
    chunks = [b"x" * 60] * 10  # chunked: no length declared
    sent, handed = await run(
        limit_request_bodies(inner, lambda path: BodyLimit(100, 100)), chunks, None
    )

    assert inner.called and len(inner.read) == 60 and handed == 2
    assert [message.get("status") for message in sent[:1]] == [413]


async def test_a_body_within_the_limit_passes() -> None:
    inner = Recorder()
    sent, _ = await run(
        limit_request_bodies(inner, lambda path: BodyLimit(100, 100)), [b"x" * 50, b"y" * 50], 100
    )
    assert inner.read == b"x" * 50 + b"y" * 50 and sent[0]["status"] == 200


def test_uploads_get_the_upload_limit_and_the_rest_a_fixed_one(settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "MEDIA_MAX_UPLOAD_BYTES": 1000}
    assert body_limit("/api/uploads") == BodyLimit(1000 + MULTIPART_OVERHEAD, 1000, "file")
    assert body_limit("/api/rooms") == BodyLimit(OTHER_BODY_LIMIT, OTHER_BODY_LIMIT)


async def test_an_upload_is_told_the_file_limit_not_the_framing_allowance() -> None:
    limit = BodyLimit(1000 + MULTIPART_OVERHEAD, 1000, "file")
    sent, _ = await run(limit_request_bodies(Recorder(), lambda path: limit), [b""], 10**9)
    body = orjson.loads(sent[1]["body"])
    assert body["message"] == "The file is larger than 1000 bytes"
    assert body["details"] == {"maxBytes": 1000}
