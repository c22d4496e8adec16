"""Banter settings, driven by the environment.

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

from banter.core.redis_conn import channel_layer_hosts

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


DEBUG = env_bool("DEBUG")


# HS256 wants a key at least as long as its 32-byte hash (RFC 7518 3.2); a short one can be
# brute-forced offline from any token, and then tokens (or Django's signatures) forged.
MIN_SECRET_BYTES = 32


def _secret(name: str) -> str:
    value = os.environ.get(name)
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

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
# Browser origins allowed to open sockets and call the API cross-origin. Same-origin pages
# (Origin matching the Host header) are always allowed; clients that send no Origin (native
# apps, python-socketio) are too, since Origin is a browser protection.
ALLOWED_ORIGINS = env_list(
    "ALLOWED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000" if DEBUG else ""
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
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
    "chat",
    "calls",
    "presence",
    "banter.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'banter.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
    # concurrent senders queue up instead of deadlocking on a lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A connection per call on SQLite, although opening one (the file, the init PRAGMAs,
    # Django's function registrations) was 40% of the CPU of a connection storm under make
    # bench: with persistent connections, tests/e2e/test_redis_instances.py (two processes on
    # one SQLite file) lost cross-instance messages in 2 of 3 runs. Not understood yet
    # (docs/benchmarks.md); PostgreSQL keeps DB_CONN_MAX_AGE.
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "banter")
# High availability: find the master through Sentinel ("host:port,host:port"); REDIS_URL
# then only gives db and credentials (see banter/core/redis_conn.py).
REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub, not the list-based RedisChannelLayer: measured 7-8x the throughput,
            # p99 6-8 ms instead of 45-150 ms, a tenth of the Redis CPU, and it re-subscribes
            # by itself after a Redis restart (docs/operations.md, bench/channel_layers.py).
            # The hub has one always-running receive loop per process, so it needs none of
            # the list layer's per-channel buffering.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": channel_layer_hosts(
                    REDIS_URL,
                    REDIS_SENTINELS,
                    REDIS_SENTINEL_MASTER,
                    # Several servers: the channel layer shards its groups over them.
                    os.environ.get("CHANNEL_REDIS_URLS", ""),
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
            "CONFIG": {"capacity": env_int("CHANNEL_CAPACITY", 100_000), "expiry": 60},
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

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_TRUSTED_ORIGINS = ALLOWED_ORIGINS
if env_bool("BEHIND_TLS_PROXY"):
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
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_ACCESS_SECONDS", 15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_REFRESH_SECONDS", 7 * 86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUDIENCE": os.environ.get("JWT_AUDIENCE", "banter"),
    "ISSUER": os.environ.get("JWT_ISSUER", "banter"),
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

# Banter-specific knobs (see docs/operations.md).
BANTER: dict[str, Any] = {
    "MAX_MESSAGE_LENGTH": env_int("MAX_MESSAGE_LENGTH", 4000),
    "MAX_EVENT_PAYLOAD_BYTES": env_int("MAX_EVENT_PAYLOAD_BYTES", 64 * 1024),
    "PING_INTERVAL": env_float("PING_INTERVAL", 25.0),
    "PING_TIMEOUT": env_float("PING_TIMEOUT", 20.0),
    "MAX_PAYLOAD": env_int("MAX_PAYLOAD", 1_000_000),
    "CONNECT_TIMEOUT": env_float("CONNECT_TIMEOUT", 10.0),
    "MAX_CONNECTIONS_PER_USER": env_int("MAX_CONNECTIONS_PER_USER", 20),
    "MAX_CONNECTIONS_PER_PROCESS": env_int("MAX_CONNECTIONS_PER_PROCESS", 20000),
    # Engine.IO sessions one client address may hold without an authenticated Socket.IO
    # connection (handshakes awaiting CONNECT, sessions whose login ended); 0: no limit.
    "MAX_HANDSHAKES_PER_IP": env_int("MAX_HANDSHAKES_PER_IP", 100),
    # Events one socket may have waiting for its handler (count, wire bytes): beyond, the
    # connection is closed.
    "MAX_QUEUED_EVENTS": env_int("MAX_QUEUED_EVENTS", 1000),
    "MAX_QUEUED_EVENT_BYTES": env_int("MAX_QUEUED_EVENT_BYTES", 8 * 1024 * 1024),
    # Deprecated: also take the socket token from the handshake's `?token=` query. Query
    # strings end up in proxy and server access logs, browser history and Referer headers.
    "ALLOW_QUERY_TOKEN": env_bool("ALLOW_QUERY_TOKEN", False),
    "AUTH_EXPIRING_NOTICE": env_float("AUTH_EXPIRING_NOTICE", 60.0),
    "AUTH_EXPIRY_GRACE": env_float("AUTH_EXPIRY_GRACE", 30.0),
    "REST_RATE_PER_MINUTE": env_int("REST_RATE_PER_MINUTE", 600),
    # Password attempts per username and client IP, at the API and at /admin/login/:
    # "tokens/period_seconds[/burst]"; empty turns it off.
    "LOGIN_RATE": os.environ.get("LOGIN_RATE", "5/60/5"),
    # A rotated refresh token presented again later than this is taken as stolen: all the
    # user's tokens are revoked. Sooner is two clients racing with one token, only refused.
    "REFRESH_REUSE_GRACE": env_float("REFRESH_REUSE_GRACE", 2.0),
    "CALL_RING_TIMEOUT": env_float("CALL_RING_TIMEOUT", 60.0),
    # An answered call ends (completed, counted to the drop) when a participant stays
    # disconnected this long.
    "CALL_DROP_GRACE": env_float("CALL_DROP_GRACE", 30.0),
    # How often each instance looks for calls whose ring or drop deadline has passed.
    "CALL_SWEEP_INTERVAL": env_float("CALL_SWEEP_INTERVAL", 1.0),
    # Connection registry entries live this long unless the instance's heartbeat (every
    # third of it) renews them: a crashed instance's users stop counting after this.
    "CONNECTION_TTL": env_float("CONNECTION_TTL", 30.0),
    # An instance that has not heartbeaten for this long is dead: a survivor removes its
    # connections and announces its users offline (realtime/cluster.py). Beats come every
    # third of min(INSTANCE_TTL, CONNECTION_TTL); survivors look every REAP_INTERVAL.
    "INSTANCE_TTL": env_float("INSTANCE_TTL", 15.0),
    "REAP_INTERVAL": env_float("REAP_INTERVAL", 2.0),
    # One instance per interval checks that every user the database shows online really
    # has a connection (a whole-cluster crash or a Redis restart leaves no one to tell).
    "PRESENCE_RECONCILE_INTERVAL": env_float("PRESENCE_RECONCILE_INTERVAL", 60.0),
    # A user whose last connection closed shows offline only after this long, so a quick
    # reconnect (network switch, page reload) does not flap online/offline.
    "PRESENCE_OFFLINE_GRACE": env_float("PRESENCE_OFFLINE_GRACE", 5.0),
    # Connection state recovery: a reconnecting client gets the room events it missed
    # replayed (from chat.RoomEvent) if they are at most this old and at most this many;
    # otherwise it is told it was not recovered and resyncs over REST.
    "RECOVERY_WINDOW": env_float("RECOVERY_WINDOW", 86400.0),
    "RECOVERY_MAX_EVENTS": env_int("RECOVERY_MAX_EVENTS", 1000),
    # Offsets are ids, not commit-and-publish order: an event with a smaller id can reach a
    # client after a larger one (it was published by a slower instance). Recovery also
    # replays the events recorded this long before the client's last offset, so one still in
    # flight when the connection dropped is not lost (the client may get it twice: it
    # de-duplicates by message id). 0 turns it off.
    "RECOVERY_LOOKBACK": env_float("RECOVERY_LOOKBACK", 0.5),
    # `make bench` only: registers `bench:send`, a room broadcast that stores nothing
    # (chat/bench.py), to compare the transport with servers that do not persist.
    "BENCH_EVENTS": env_bool("BENCH_EVENTS", False),
    "TYPING_TIMEOUT": env_float("TYPING_TIMEOUT", 5.0),
    "TYPING_REBROADCAST": env_float("TYPING_REBROADCAST", 3.0),
    # mark-read: at most one write + message-read broadcast per user/room per interval.
    "READ_COALESCE_INTERVAL": env_float("READ_COALESCE_INTERVAL", 1.0),
    "NOTIFICATIONS_ON_CONNECT": env_int("NOTIFICATIONS_ON_CONNECT", 50),
    # A socket denied this many times its class's limit within one period is disconnected.
    "ABUSE_MULTIPLIER": env_int("ABUSE_MULTIPLIER", 10),
    # Socket event rate limits per user and class: "tokens/period_seconds[/burst]".
    "RATE_LIMITS": {
        "default": os.environ.get("RATE_LIMIT_DEFAULT", "600/60/60"),
        "message": os.environ.get("RATE_LIMIT_MESSAGE", "100/60/20"),
        "typing": os.environ.get("RATE_LIMIT_TYPING", "20/10/10"),
        "join": os.environ.get("RATE_LIMIT_JOIN", "30/60/10"),
        "call": os.environ.get("RATE_LIMIT_CALL", "10/60/5"),
        # WebRTC trickles dozens of ICE candidates per call setup.
        "signal": os.environ.get("RATE_LIMIT_SIGNAL", "600/60/200"),
        "read": os.environ.get("RATE_LIMIT_READ", "120/60/30"),
        "presence": os.environ.get("RATE_LIMIT_PRESENCE", "10/60/5"),
    },
}

# /metrics answers clients from these networks, or with "Authorization: Bearer METRICS_TOKEN".
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(net) for net in env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
]

# Peers whose X-Forwarded-For/-Proto `manage.py serve --proxy-headers` believes: the proxy in
# front, by address or network ("*": any peer, only when nothing but the proxy can reach the
# port). Anyone else's headers are ignored, so a client cannot pick its address (per-IP rate
# limits, /metrics networks, logs). Default: a proxy on this host.
FORWARDED_ALLOW_IPS = env_list("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
for _peer in FORWARDED_ALLOW_IPS:
    try:
        if _peer != "*":
            ipaddress.ip_network(_peer)
    except ValueError:
        raise ImproperlyConfigured(
            f"FORWARDED_ALLOW_IPS: {_peer!r} is not an IP address, a network or *"
        ) from None

# LOG_FORMAT=json: one JSON object per line (for log shippers); default: plain text.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")

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
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        # `serve --server daphne` writes its access log here (serving/with_daphne.py).
        "daphne.access": {"level": "INFO"},
        # Its reader logs a traceback per 1 s retry while Redis is down.
        "channels_redis.pubsub": {"filters": ["repeat"]},
    },
}
