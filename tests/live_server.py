"""Run a server as a subprocess for end-to-end tests.

Generic on purpose: the conformance suite runs ``manage.py socketio_conformance`` with it and
the chat end-to-end tests run the real ASGI server with it. The process gets its own process
group, so ``stop()``/``kill()`` also reach any workers it spawned, and all of its output goes
to one log file whose tail is put in every error message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the kernel's pick; another process could still
    take it before the server binds it, which is rare enough for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LiveServerError(RuntimeError):
    """The server process could not be started (it exited or never accepted connections)."""


class LiveServer:
    """A server subprocess listening on ``host:port``.

    ``argv`` is the full command line; ``env`` is added to (and overrides) ``os.environ``;
    ``PYTHONUNBUFFERED=1`` is always set so the log is complete even after a SIGKILL.
    """

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        env: Mapping[str, str] | None = None,
        log_path: Path | str = "live-server.log",
        *,
        host: str = "127.0.0.1",
        cwd: Path | str | None = None,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.port = port
        self.host = host
        self.env = dict(env or {})
        self.log_path = Path(log_path)
        self.cwd = Path(cwd) if cwd is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # -- state -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the server's log ("" if there is none yet)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        lines = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:])

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 20) -> LiveServer:
        """Spawn the process and wait until the port accepts TCP connections.

        Raises ``LiveServerError`` (with the log tail) if the process exits first or the port
        is not open within ``timeout`` seconds; the process is stopped in that case.
        """
        if self.running:
            raise LiveServerError(f"server already running (pid {self.pid})")
        if _port_open(self.host, self.port):
            raise LiveServerError(f"{self.host}:{self.port} is already in use by another process")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115  (lives as long as the process)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: signals reach its children too
        )
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                self._close_log()
                raise LiveServerError(
                    f"server exited with code {code} before accepting connections: "
                    f"{' '.join(self.argv)}\n--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            if _port_open(self.host, self.port):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise LiveServerError(
                    f"server did not accept connections on {self.host}:{self.port} within "
                    f"{timeout}s: {' '.join(self.argv)}\n"
                    f"--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 5) -> int | None:
        """SIGTERM the process group, wait up to ``timeout`` seconds, then SIGKILL it.
        Returns the exit code (None if it was never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self._close_log()
        return self.process.returncode

    def kill(self) -> int | None:
        """SIGKILL the process group right away (simulates a crash)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=5)
        self._close_log()
        return self.process.returncode

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited={self.returncode}"
        return f"<LiveServer {self.url} pid={self.pid} {state}>"

    # -- internals -------------------------------------------------------------------------

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        # start_new_session=True made the child the leader of its own group (pgid == pid).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.25):
            return True
    except OSError:
        return False
