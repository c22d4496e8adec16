"""Test settings: banter.settings with hermetic test-only secrets and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdef")
os.environ.setdefault("JWT_SIGNING_KEY", "test-only-jwt-signing-key-fedcba9876543210")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from banter.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BANTER["REST_RATE_PER_MINUTE"] = 100_000  # noqa: F405  (tests of 429 set their own)

# Uploads go to a directory of this test run's own, never the checkout's mediafiles/.
import tempfile  # noqa: E402

STORAGES["media"]["OPTIONS"]["location"] = tempfile.mkdtemp(prefix="banter-test-media-")  # noqa: F405
MEDIA_ROOT = STORAGES["media"]["OPTIONS"]["location"]  # noqa: F405
