"""The message writer: the sends of one process, group-committed (chat/message_batch.py).

Socket sends (chat/handlers.py) and REST sends (chat/api.py, through `send_from_thread`)
go through the same writer, `MESSAGES`.

Sends queue here and one writer thread writes them, a batch per transaction. While a batch
is being written the next sends queue, and the next batch takes them all (up to
MESSAGE_BATCH_MAX): under load a batch grows with the load, and an idle writer writes a lone
send at once (or after MESSAGE_BATCH_WINDOW_MS, when set). Each send's ack still waits for
its batch's commit, and its broadcast goes out after that commit, in seq order.

One thread, not the worker pool: batches of one process never contend for the same rooms'
row locks, and the event loop only waits on a future, never on the database.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

from asgiref.sync import SyncToAsync, async_to_sync
from django.conf import settings
from django.db import close_old_connections, connection

from banter.core.errors import BanterError
from chat.message_batch import SendRequest, SendResult, message_send_batch
from chat.models import Message
from chat.services import message_send

_Queued = tuple[SendRequest, "asyncio.Future[SendResult]"]


class MessageWriter:
    """Group commit for the sends of one event loop (one instance per process)."""

    def __init__(self) -> None:
        self._queue: list[_Queued] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._thread = _WriterThread()

    async def send(self, request: SendRequest) -> tuple[Message, bool]:
        """What `message_send` returns for this request (or raises), once committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new loop (tests run one per test): what queued on the old one is gone with it.
            self._loop, self._queue, self._task = loop, [], None
        future: asyncio.Future[SendResult] = loop.create_future()
        self._queue.append((request, future))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        result = await future
        if isinstance(result, BanterError):
            raise result
        return result

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        config = settings.BANTER
        try:
            window = float(config["MESSAGE_BATCH_WINDOW_MS"]) / 1000
            if window > 0:
                await asyncio.sleep(window)
            limit = max(1, int(config["MESSAGE_BATCH_MAX"]))
            while self._queue:
                batch, self._queue = self._queue[:limit], self._queue[limit:]
                try:
                    results = await loop.run_in_executor(
                        self._writer_thread(), self._thread.write, [request for request, _ in batch]
                    )
                except Exception as error:  # the database is down: every send of it fails
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # its socket may have gone meanwhile
                        future.set_result(result)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="message-writer")
        return self._executor


class _WriterThread:
    """The writer thread's database connection, kept as channels' database_sync_to_async
    keeps a worker's, with one difference: the liveness check (a `SELECT 1` with
    conn_health_checks) runs at most once a second instead of before every batch."""

    CHECK_EVERY = 1.0

    def __init__(self) -> None:
        self._checked_at = -math.inf

    def write(self, requests: list[SendRequest]) -> list[SendResult]:
        now = time.monotonic()
        if now - self._checked_at >= self.CHECK_EVERY or connection.errors_occurred:
            close_old_connections()  # past CONN_MAX_AGE or broken: replaced at first use
            self._checked_at = now
        try:
            return message_send_batch(requests)
        finally:
            if not connection.settings_dict["CONN_MAX_AGE"]:
                connection.close()  # DB_CONN_MAX_AGE=0: a connection per batch


# The process's writer (one per process: its batches never contend for row locks).
MESSAGES = MessageWriter()


def send_from_thread(request: SendRequest) -> tuple[Message, bool]:
    """A send from synchronous code: through MESSAGES when it runs in a worker thread of an
    ASGI request (a REST view under `manage.py serve`), whose event loop runs the writer;
    otherwise (no such loop: WSGI, management commands, Django's test client) message_send
    in this thread, the same rules in its own transaction."""
    if _request_loop() is None:
        return message_send(
            **{field.name: getattr(request, field.name) for field in fields(request)}
        )
    return async_to_sync(MESSAGES.send)(request)


def _request_loop() -> asyncio.AbstractEventLoop | None:
    # asgiref's record of the event loop that handed this thread its work (what
    # async_to_sync itself looks up): None outside a sync_to_async worker thread.
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None
