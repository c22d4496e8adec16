"""Fixtures shared by every test package: the test database, users, API clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts.models import User
from banter.core.ratelimit import get_rate_limiter

_usernames = itertools.count(1)

UserFactory = Callable[..., User]
AuthClient = Callable[[User], APIClient]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On SQLite, test in a file like production, not in Django's default shared-cache
    memory database: there a second writer fails at once with "database table is locked"
    instead of waiting out the busy timeout, so concurrency tests (transaction=True, several
    threads) cannot pass. A per-session temporary file keeps parallel runs apart."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database.get("TEST", {}).get(
        "NAME"
    ):
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit buckets are per user id (and username, address): ids come back after a
    test's rollback, so without this one test's sends would spend the next one's budget."""
    get_rate_limiter().reset()
    yield
    get_rate_limiter().reset()


@pytest.fixture(autouse=True)
def _process_hubs_restored() -> Iterator[None]:
    """A test that builds the production server (banter.wiring) installs its hubs as the
    process's; put the previous ones back so later tests start from the same place."""
    from banter.realtime import hub

    before = hub.process_hubs()
    yield
    hub.install(before)


@pytest.fixture
def user_factory(db: None) -> UserFactory:
    """Create a user; any User field can be given (username defaults to a unique one)."""

    def create(**fields: Any) -> User:
        fields.setdefault("username", f"user{next(_usernames)}")
        fields.setdefault("display_name", fields["username"].title())
        password = fields.pop("password", "test-pass")
        return User.objects.create_user(password=password, **fields)

    return create


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous REST client."""
    return APIClient()


@pytest.fixture
def auth_client() -> AuthClient:
    """`auth_client(user)`: a REST client sending that user's JWT access token."""

    def build(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        return client

    return build


@pytest.fixture
def media_root(tmp_path: Path, settings: Any) -> Path:
    """Uploads of this test land in (and only in) this directory."""
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    # (Django's setting_changed handler drops the cached storages, before and after.)
    return root
