"""The lifecycle the local push-service fakes share: an aiohttp application on a free port of
127.0.0.1, served by an event loop in a background thread, so sync and async tests alike can
use it (``with Fake() as fake:``)."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Self

from aiohttp import web


def run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A background thread's body: run `loop` until stopped, then close it cleanly."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class ThreadedAiohttpServer:
    """Subclasses add their routes (`add_routes`) and may prepare state before serving
    (`prepare`, called once the port is known)."""

    thread_name = "local-server"

    def __init__(self) -> None:
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self._host}:{self._port}"

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Called after the port is bound and before serving starts."""

    def start(self) -> Self:
        """Bind a free port and serve from a background thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        # Bind here rather than pick a port and bind later: no other process can take it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self._host, 0))
        self._port = int(sock.getsockname()[1])
        self.prepare()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=run_loop, args=(loop,), name=f"{self.thread_name}-{self._port}", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(sock), loop).result(timeout=10)
        except BaseException:
            sock.close()
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent). What was recorded stays readable."""
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        try:
            if runner is not None:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._loop = self._thread = self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application()
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner
