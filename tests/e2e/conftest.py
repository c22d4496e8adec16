"""A live Banter server process for end-to-end tests with the real clients.

One server per test session, on its own database: a fresh SQLite file by default, or a
fresh PostgreSQL database when the suite runs with a postgres DATABASE_URL (CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.client import RestClient
from tests.live_server import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]


def _database_url(tmp: Path) -> tuple[str, str | None]:
    """(url for the server, name of a PostgreSQL database to drop afterwards)."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        name = f"banter_e2e_{uuid.uuid4().hex[:10]}"
        _psql(base, f'CREATE DATABASE "{name}"')
        return base.rsplit("/", 1)[0] + "/" + name, name
    return f"sqlite:///{tmp / 'e2e.sqlite3'}", None


def _psql(base_url: str, statement: str) -> None:
    import psycopg

    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement.encode())


def server_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "banter.settings",
        "DEBUG": "0",
        "SECRET_KEY": "e2e-secret-key-not-for-production-0123456789",
        "JWT_SIGNING_KEY": "e2e-jwt-signing-key-not-for-production-987",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ALLOWED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
        "DATABASE_URL": database_url,
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "INFO",
        "REDIS_URL": "",  # the embedded default unless a test asks for Redis
        # Short notice and grace so token-expiry tests take seconds (real tokens live 15 min).
        "AUTH_EXPIRING_NOTICE": "2",
        "AUTH_EXPIRY_GRACE": "1",
        # The servers of a session share one database (the session server lives beside each
        # module's). An embedded-default server is the only process on its database by
        # design, so its reconciler marks offline every user it has no connection for: the
        # other servers' users too, silently (it tells only its own sockets). The reconciler
        # has its own tests (tests/presence/test_crash_safety.py); here it never runs.
        "PRESENCE_RECONCILE_INTERVAL": "86400",
        # Uploads in a directory of this server's own, never the checkout's mediafiles/.
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="banter-e2e-media-"),
    }
    env.update(extra)
    return env


@contextmanager
def fresh_database(tmp: Path) -> Iterator[str]:
    """A new, migrated database (SQLite file, or PostgreSQL when DATABASE_URL says so)."""
    url, pg_name = _database_url(tmp)
    env = {**os.environ, **server_env(url, 0)}
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
        )
        yield url
    finally:
        if pg_name is not None:
            _psql(os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def e2e_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("e2e-db")) as url:
        yield url


def start_banter(database_url: str, log_dir: Path, name: str, **extra: str) -> LiveServer:
    port = free_port()
    server = LiveServer(
        # The production entry point: daphne plus the SIGTERM drain.
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        env=server_env(database_url, port, **extra),
        log_path=log_dir / f"{name}-{port}.log",
        cwd=ROOT,
    )
    return server.start(timeout=30)


@contextmanager
def instance_pair(
    database_url: str, log_dir: Path, name: str, **extra: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two server processes on one database and (given REDIS_URL in extra) one Redis."""
    first = start_banter(database_url, log_dir, f"{name}-1", **extra)
    try:
        second = start_banter(database_url, log_dir, f"{name}-2", **extra)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture(scope="session")
def banter_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = start_banter(e2e_database, tmp_path_factory.mktemp("e2e-logs"), "banter")
    yield server
    server.stop()


@pytest.fixture
def rest(banter_server: LiveServer) -> RestClient:
    return RestClient(banter_server.url)
