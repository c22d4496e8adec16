"""Banter settings, driven by the environment.

Every environment variable is a knob of banter/config.py (type, default, one-line doc), read
once here into CONFIG; this module only turns knobs into Django's settings and BANTER.
Production-safe defaults: DEBUG is off unless DEBUG=1, and without DEBUG a SECRET_KEY and a
JWT_SIGNING_KEY (each at least 32 bytes) must be given. The embedded default (no DATABASE_URL,
no REDIS_URL) is one process on SQLite with the in-memory channel layer.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from banter.core import config, vapid
from banter.core.redis_conn import channel_layer_hosts

BASE_DIR = Path(__file__).resolve().parent.parent

# Read once: a bad value or an unknown RATE_LIMIT_* name stops the process here.
CONFIG = config.load(os.environ)

DEBUG = CONFIG.DEBUG


# HS256 wants a key at least as long as its 32-byte hash (RFC 7518 3.2); a short one can be
# brute-forced offline from any token, and then tokens (or Django's signatures) forged.
MIN_SECRET_BYTES = 32


def _secret(name: str) -> str:
    value: str = getattr(CONFIG, name)
    if value:
        if not DEBUG and len(value.encode()) < MIN_SECRET_BYTES:
            raise ImproperlyConfigured(
                f"{name} must be at least {MIN_SECRET_BYTES} bytes when DEBUG is off "
                f"(it has {len(value.encode())}); e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value
    if DEBUG:
        # Only a developer's DEBUG server gets a built-in key; production must set one.
        return f"dev-only-insecure-{name.lower()}-do-not-use-in-production"
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")


SECRET_KEY = _secret("SECRET_KEY")
JWT_SIGNING_KEY = _secret("JWT_SIGNING_KEY")
if JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY")

ALLOWED_HOSTS = list(CONFIG.ALLOWED_HOSTS)
ALLOWED_ORIGINS = list(CONFIG.ALLOWED_ORIGINS)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    # Swagger UI's files served from here, not from a CDN (SPECTACULAR_SETTINGS).
    "drf_spectacular_sidecar",
    "channels",
    "banter.accounts",
    "banter.notifications",
    "banter.core",
    "banter.realtime",
    # `manage.py serve` (banter/ops/management): above the apps, it runs the whole server.
    "banter.ops",
    "chat",
    "media",
    "push",
    "calls",
    "wallet",
    "presence",
    "banter.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before CommonMiddleware: a preflight is answered even where CommonMiddleware would
    # redirect (APPEND_SLASH), and every /api/ answer, errors included, carries the headers.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # LOGIN_RATE on POST /admin/login/ (the API's login view applies it itself).
    "banter.accounts.throttling.AdminLoginThrottleMiddleware",
]

ROOT_URLCONF = "banter.urls"
ASGI_APPLICATION = "banter.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if not CONFIG.DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL must not be empty (unset: SQLite)")
try:
    _database = dj_database_url.parse(
        CONFIG.DATABASE_URL, conn_max_age=CONFIG.DB_CONN_MAX_AGE, conn_health_checks=True
    )
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL: {error}") from None
DATABASES = {"default": _database}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
    # concurrent senders queue up instead of deadlocking on a lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # SQLite keeps its connections too (DB_CONN_MAX_AGE): opening one (the file, the init
    # PRAGMAs, Django's function registrations) per call was 40% of a connect storm's CPU.
    # They were once turned off here for a cross-instance test that failed with them; that
    # was the test's own race, not the connections (docs/benchmarks.md, 2026-12-03).

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = CONFIG.REDIS_URL
REDIS_PREFIX = CONFIG.REDIS_PREFIX
# High availability: find the master through Sentinel ("host:port,host:port"); REDIS_URL
# then only gives db and credentials (see banter/core/redis_conn.py).
REDIS_SENTINELS = CONFIG.REDIS_SENTINELS
REDIS_SENTINEL_MASTER = CONFIG.REDIS_SENTINEL_MASTER
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub, not the list-based RedisChannelLayer: measured 7-8x the throughput,
            # p99 6-8 ms instead of 45-150 ms, a tenth of the Redis CPU, and it re-subscribes
            # by itself after a Redis restart (docs/operations.md, bench/channel_layers.py).
            # The hub has one always-running receive loop per process, so it needs none of
            # the list layer's per-channel buffering.
            # Ours adds pipelined publishing (banter/realtime/layers.py).
            "BACKEND": "banter.realtime.layers.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": channel_layer_hosts(
                    REDIS_URL,
                    REDIS_SENTINELS,
                    REDIS_SENTINEL_MASTER,
                    # Several servers: the channel layer shards its groups over them.
                    CONFIG.CHANNEL_REDIS_URLS,
                ),
                "prefix": REDIS_PREFIX,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            # Channels' in-memory layer, counting overflow instead of dropping silently.
            "BACKEND": "banter.realtime.layers.InMemoryChannelLayer",
            # One hub channel per process carries every broadcast (see realtime/hub.py), so
            # it needs far more room than a per-socket channel would.
            "CONFIG": {"capacity": CONFIG.CHANNEL_CAPACITY, "expiry": 60},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = (
    [BASE_DIR / "banter" / "static"] if (BASE_DIR / "banter" / "static").is_dir() else []
)

# Uploads (media/): the "media" storage holds them. Never served from a public URL: every
# download goes through an authorizing view (chat/attachments.py).
MEDIA_ROOT = CONFIG.MEDIA_ROOT
MEDIA_ACCEL_REDIRECT = CONFIG.MEDIA_ACCEL_REDIRECT
MEDIA_STORAGE = CONFIG.MEDIA_STORAGE
if CONFIG.MEDIA_STORAGE == "s3":
    if not CONFIG.MEDIA_S3_BUCKET:
        raise ImproperlyConfigured("MEDIA_S3_BUCKET must be set with MEDIA_STORAGE=s3")
    _media_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CONFIG.MEDIA_S3_BUCKET,
            "endpoint_url": CONFIG.MEDIA_S3_ENDPOINT_URL or None,
            "region_name": CONFIG.MEDIA_S3_REGION or None,
            "access_key": CONFIG.MEDIA_S3_ACCESS_KEY_ID or None,
            "secret_key": CONFIG.MEDIA_S3_SECRET_ACCESS_KEY or None,
            # Private objects; the download view redirects to a presigned URL this short-lived.
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "signature_version": "s3v4",
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No base_url: nothing is served from MEDIA_ROOT without the authorizing view.
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "media": _media_storage,
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = CONFIG.SECURE_COOKIES
    CSRF_COOKIE_SECURE = CONFIG.SECURE_COOKIES
CSRF_TRUSTED_ORIGINS = ALLOWED_ORIGINS

# Cross-origin REST (django-cors-headers) for the same origins as sockets, and only on /api/
# (the admin and the page stay same-origin). No credentials: the API authenticates with
# bearer tokens, never cookies, so a foreign page cannot ride a session.
CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
# Readable by the calling page: rate-limit waits, download names, upload links.
CORS_EXPOSE_HEADERS = ["Retry-After", "Content-Disposition", "Location"]
if CONFIG.BEHIND_TLS_PROXY:
    # Only behind a proxy that overwrites X-Forwarded-Proto (deploy/nginx.conf does).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

_RENDERERS = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    _RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Same token checks and error reasons as the socket handshake (banter.accounts.tokens).
        "banter.accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": _RENDERERS,
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "banter.core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["banter.core.throttling.BanterThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=CONFIG.JWT_ACCESS_SECONDS),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=CONFIG.JWT_REFRESH_SECONDS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUDIENCE": CONFIG.JWT_AUDIENCE,
    "ISSUER": CONFIG.JWT_ISSUER,
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "CHECK_USER_IS_ACTIVE": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Banter API",
    "DESCRIPTION": "REST API of the Banter real-time chat and calling backend. "
    "Real-time events use Socket.IO v5 at /socket.io/ (see docs/protocol.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ loads Swagger UI from our static files: no third-party script on a page
    # that holds the user's tokens, and it works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Banter-specific knobs: the in_banter knobs of banter/config.py by name, and "RATE_LIMITS"
# (rate class -> RATE_LIMIT_<CLASS>). A plain dict: call sites read settings.BANTER["X"] and
# tests replace it with modified copies.
BANTER: dict[str, Any] = CONFIG.banter_settings()
if DEBUG and not (BANTER["VAPID_PUBLIC_KEY"] or BANTER["VAPID_PRIVATE_KEY"]):
    # A developer's server (`make run`) offers Web Push with nothing set, as it has built-in
    # dev secrets; production sets its own keys (`manage.py vapid_keys`).
    BANTER["VAPID_PUBLIC_KEY"], BANTER["VAPID_PRIVATE_KEY"] = vapid.dev_pair(
        BASE_DIR / ".vapid-dev-keys.json"
    )

# /metrics answers clients from these networks, or with "Authorization: Bearer METRICS_TOKEN".
METRICS_TOKEN = CONFIG.METRICS_TOKEN
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(net) for net in CONFIG.METRICS_ALLOWED_NETWORKS
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from None

# Peers whose X-Forwarded-For/-Proto `manage.py serve --proxy-headers` believes: the proxy in
# front, by address or network ("*": any peer, only when nothing but the proxy can reach the
# port). Anyone else's headers are ignored, so a client cannot pick its address (per-IP rate
# limits, /metrics networks, logs). Default: a proxy on this host.
FORWARDED_ALLOW_IPS = list(CONFIG.FORWARDED_ALLOW_IPS)
for _peer in FORWARDED_ALLOW_IPS:
    try:
        if _peer != "*":
            ipaddress.ip_network(_peer)
    except ValueError:
        raise ImproperlyConfigured(
            f"FORWARDED_ALLOW_IPS: {_peer!r} is not an IP address, a network or *"
        ) from None

# LOG_FORMAT=json: one JSON object per line (for log shippers); default: plain text.
LOG_FORMAT = CONFIG.LOG_FORMAT

# `manage.py serve`: its --server and --shutdown-timeout defaults.
ASGI_SERVER = CONFIG.ASGI_SERVER
SHUTDOWN_TIMEOUT = CONFIG.SHUTDOWN_TIMEOUT

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "banter.ops.logs.JsonFormatter"},
    },
    "filters": {
        "repeat": {"()": "banter.ops.logs.RepeatFilter", "seconds": 30.0},
        # Query strings (Engine.IO sids, tokens) out of the servers' access logs.
        "redact": {"()": "banter.ops.logs.RedactFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        # `serve --server daphne` writes its access log here (serving/with_daphne.py).
        "daphne.access": {"level": "INFO"},
        # Its reader logs a traceback per 1 s retry while Redis is down.
        "channels_redis.pubsub": {"filters": ["repeat"]},
        # APNs pushes (push/apns.py): httpx logs each request at INFO, device token in the URL.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
