"""Banter's knobs: every environment variable the server reads, with its type, default and doc.

`load(os.environ)` reads them ONCE (banter/settings.py does, at startup) into a frozen `Config`;
settings.BANTER and the module settings are built from it. A value that does not parse (a
word for a number, a malformed rate) and an unknown RATE_LIMIT_* variable (a typo would keep
the default limit without a word) raise ImproperlyConfigured naming the variable.

`python -m banter.core.config --markdown` prints the README's configuration tables
(tests/test_settings_doc.py checks that README.md holds exactly that output).
"""

# RUF009: knob(), module_knob() and rate_knob() return dataclasses.field(...) with metadata.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NewType

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]

# "tokens/period_seconds[/burst]", e.g. "100/60/20" (banter.core.ratelimit.parse_rate).
RateSpec = NewType("RateSpec", str)
# Comma-separated in the environment, e.g. "127.0.0.1,::1".
Names = tuple[str, ...]

# Only variables with these prefixes are checked for unknown names: the rate class is part
# of the name, so a typo (RATE_LIMIT_MESAGE) would silently keep the default limit. Other
# names are not checked: the environment holds plenty of variables that are not ours
# (BANTER_* included: Kubernetes derives BANTER_SERVICE_HOST, BANTER_PORT... from a Service
# named banter, and the test suite reads BANTER_TEST_REDIS_URL).
CHECKED_PREFIXES = ("RATE_LIMIT_",)

SECURITY = "Security and deployment"
STORAGE = "Database and Redis"
CONNECTIONS = "Connections (Engine.IO / Socket.IO)"
RATES = "Rate limits"
DOMAINS = "Chat, presence and calls"
MEDIA = "Attachments (uploads)"
PUSH = "Push notifications"
PAID_CALLS = "Call media and coins"
OPERATIONS = "Cluster and operations"
# Group title -> the README's line under it.
GROUPS = {
    SECURITY: "",
    STORAGE: "",
    CONNECTIONS: "",
    RATES: "A rate is `tokens/period_seconds[/burst]`. `RATE_LIMIT_<CLASS>` limits a user's "
    "socket events of one class (banter/socket_routes.py gives each event its class).",
    DOMAINS: "",
    MEDIA: "Uploads are stored through Django's storage API and served only to the uploader "
    'and the members of the room of their message (docs/api.md "Attachments").',
    PUSH: "Pushes to offline devices come from a durable outbox (docs/operations.md "
    '"Push notifications").',
    PAID_CALLS: "Calls relay WebRTC signals; with both Agora settings they also get Agora "
    'channels and RTC tokens. Coins are credited by staff only (docs/api.md "Wallet").',
    OPERATIONS: "",
}


@dataclass(frozen=True, slots=True)
class Knob:
    """What the README says about one variable, and where its value goes in settings."""

    doc: str
    group: str
    # settings.BANTER[<name>] (else a module-level setting of banter/settings.py).
    in_banter: bool = True
    # settings.BANTER["RATE_LIMITS"][<rate_class>].
    rate_class: str | None = None
    # The default while DEBUG is on, when it differs (development conveniences).
    debug_default: Any = None
    choices: tuple[str, ...] = ()
    # False: an empty value is refused (it would fail later, at the first use).
    empty_ok: bool = True
    # The default as the README shows it, when the value itself would mislead.
    shown_default: str | None = None


def knob(default: Any, doc: str, group: str, **details: Any) -> Any:
    """A Config field for settings.BANTER[<its name>]."""
    return field(default=default, metadata={"knob": Knob(doc, group, **details)})


def module_knob(default: Any, doc: str, group: str, **details: Any) -> Any:
    """A Config field that banter/settings.py turns into a module-level (Django) setting."""
    return knob(default, doc, group, in_banter=False, **details)


def rate_knob(rate_class: str, default: str, doc: str) -> Any:
    """A Config field for settings.BANTER["RATE_LIMITS"][rate_class] (RATE_LIMIT_<CLASS>)."""
    # An empty class limit falls back to "default" (rate_for_class); "default" itself must be set.
    empty_ok = rate_class != "default"
    return knob(
        RateSpec(default), doc, RATES, in_banter=False, rate_class=rate_class, empty_ok=empty_ok
    )


@dataclass(frozen=True, slots=True)
class Config:
    """One field per environment variable, of the same name. Comments say why a default is
    what it is; the `doc` string is the README's one line."""

    # --- Security and deployment
    DEBUG: bool = module_knob(
        False,
        "development mode (`make run` sets `DEBUG=1`); only then are built-in dev secrets allowed",
        SECURITY,
    )
    SECRET_KEY: str = module_knob(
        "",
        "Django secret, at least 32 bytes unless DEBUG",
        SECURITY,
        shown_default="required unless DEBUG",
    )
    JWT_SIGNING_KEY: str = module_knob(
        "",
        "HS256 key for access/refresh tokens, at least 32 bytes unless DEBUG; must differ from "
        "SECRET_KEY",
        SECURITY,
        shown_default="required unless DEBUG",
    )
    ALLOWED_HOSTS: Names = module_knob(
        (), "Django host allowlist", SECURITY, debug_default=("127.0.0.1", "localhost", "[::1]")
    )
    # Same-origin pages (Origin matching the Host header) are always allowed; clients that
    # send no Origin (native apps, python-socketio) are too, since Origin is a browser
    # protection. Also Django's CSRF_TRUSTED_ORIGINS.
    ALLOWED_ORIGINS: Names = module_knob(
        (),
        "browser origins allowed to open sockets and call the API cross-origin (same-origin "
        "always allowed)",
        SECURITY,
        debug_default=("http://127.0.0.1:8000", "http://localhost:8000"),
    )
    SECURE_COOKIES: bool = module_knob(
        True, "session and CSRF cookies only over HTTPS (ignored with DEBUG)", SECURITY
    )
    BEHIND_TLS_PROXY: bool = module_knob(
        False,
        "trust `X-Forwarded-Proto: https` (only behind a proxy that overwrites it, like "
        "deploy/nginx.conf)",
        SECURITY,
    )
    # Anyone else's headers are ignored, so a client cannot pick its address (per-IP rate
    # limits, /metrics networks, logs). "*" only when nothing but the proxy reaches the port.
    FORWARDED_ALLOW_IPS: Names = module_knob(
        ("127.0.0.1", "::1"),
        "proxies (addresses or networks, `*` for any) whose `X-Forwarded-For`/`-Proto` "
        "`manage.py serve --proxy-headers` believes; anyone else's are ignored",
        SECURITY,
    )
    JWT_ACCESS_SECONDS: int = module_knob(15 * 60, "access token lifetime, seconds", SECURITY)
    JWT_REFRESH_SECONDS: int = module_knob(7 * 86400, "refresh token lifetime, seconds", SECURITY)
    JWT_AUDIENCE: str = module_knob("banter", "`aud` of the tokens issued and accepted", SECURITY)
    JWT_ISSUER: str = module_knob("banter", "`iss` of the tokens issued and accepted", SECURITY)
    # Sooner is two clients racing with one token: only refused.
    REFRESH_REUSE_GRACE: float = knob(
        2.0,
        "seconds within which a rotated refresh token presented again is only refused; later "
        'it revokes all the user\'s tokens (docs/api.md "Refresh-token reuse")',
        SECURITY,
    )
    # Query strings end up in proxy and server access logs, browser history and Referer.
    ALLOW_QUERY_TOKEN: bool = knob(
        False,
        "deprecated: also take the socket token from the handshake's `?token=` (query strings "
        'end up in logs; docs/protocol.md "Authentication")',
        SECURITY,
    )

    # --- Database and Redis
    DATABASE_URL: str = module_knob(
        f"sqlite:///{BASE_DIR / 'banter.sqlite3'}",
        "e.g. `postgres://user@host:5432/banter`",
        STORAGE,
        shown_default="`sqlite:///banter.sqlite3`",
    )
    DB_CONN_MAX_AGE: int = module_knob(
        60, "seconds a database connection is kept open (0: one per call)", STORAGE
    )
    REDIS_URL: str = module_knob(
        "",
        "e.g. `redis://127.0.0.1:6379/0`: channel layer, presence, typing, connection registry "
        "and rate limits on Redis, for several instances",
        STORAGE,
        shown_default="unset: in-memory channel layer and state store",
    )
    REDIS_PREFIX: str = module_knob(
        "banter", "prefix of every Redis key and channel-layer name", STORAGE
    )
    # REDIS_URL then only gives db and credentials (banter/core/redis_conn.py).
    REDIS_SENTINELS: str = module_knob(
        "", "find the Redis master through Sentinel (`host:port,...`)", STORAGE
    )
    REDIS_SENTINEL_MASTER: str = module_knob("mymaster", "the Sentinel master name", STORAGE)
    CHANNEL_REDIS_URLS: str = module_knob(
        "", "shard the channel layer over several Redis servers (`url,url,...`)", STORAGE
    )
    # One hub channel per process carries every broadcast (realtime/hub.py): it needs far
    # more room than a per-socket channel would.
    CHANNEL_CAPACITY: int = module_knob(
        100_000, "messages the in-memory channel layer holds per channel (no REDIS_URL)", STORAGE
    )

    # --- Connections
    PING_INTERVAL: float = knob(25.0, "Engine.IO heartbeat interval, seconds", CONNECTIONS)
    PING_TIMEOUT: float = knob(20.0, "Engine.IO heartbeat timeout, seconds", CONNECTIONS)
    MAX_PAYLOAD: int = knob(1_000_000, "Engine.IO max frame / polling body bytes", CONNECTIONS)
    MAX_EVENT_PAYLOAD_BYTES: int = knob(
        64 * 1024, "max size of one inbound event packet", CONNECTIONS
    )
    CONNECT_TIMEOUT: float = knob(
        10.0, "seconds a new session has to send Socket.IO CONNECT", CONNECTIONS
    )
    MAX_CONNECTIONS_PER_USER: int = knob(20, "sockets per user, all instances", CONNECTIONS)
    MAX_CONNECTIONS_PER_PROCESS: int = knob(20_000, "sockets per process", CONNECTIONS)
    # Handshakes awaiting CONNECT and sessions whose login ended.
    MAX_HANDSHAKES_PER_IP: int = knob(
        100,
        "sessions one client address may hold without an authenticated Socket.IO connection "
        "(0: no limit)",
        CONNECTIONS,
    )
    # Sessions past the handshake wait here for their CONNECT's database reads: about 3 s of
    # the ~700 admissions/s one process manages (docs/benchmarks.md). When the database is
    # slow, a client then waits seconds, not the 20 s after which socket.io-client gives up
    # and retries into the queue; the others get 503 and come back after their backoff.
    MAX_PENDING_HANDSHAKES: int = knob(
        2000,
        "sessions of all addresses waiting for their Socket.IO connection to be admitted; "
        "beyond, handshakes get 503 and clients retry with backoff (0: no limit)",
        CONNECTIONS,
    )
    MAX_QUEUED_EVENTS: int = knob(
        1000,
        "inbound events waiting for one socket's handler; beyond, the connection is closed",
        CONNECTIONS,
    )
    MAX_QUEUED_EVENT_BYTES: int = knob(
        8 * 1024 * 1024,
        "wire bytes of the events waiting for one socket's handler; beyond, it is closed",
        CONNECTIONS,
    )
    # socket.io-client 2.x and older native clients (the seed's `allowEIO3: true`). They
    # cannot send a CONNECT auth payload: a bearer header, or `?token=` on EIO=3 only.
    ALLOW_EIO3: bool = knob(
        False,
        "accept Engine.IO v3 / Socket.IO v2 clients (socket.io-client 2.x), authenticated by "
        "an `Authorization: Bearer` header or a `?token=` query",
        CONNECTIONS,
    )
    AUTH_EXPIRING_NOTICE: float = knob(
        60.0, "seconds before the token's `exp` that `auth:expiring` is sent", CONNECTIONS
    )
    AUTH_EXPIRY_GRACE: float = knob(
        30.0, "seconds after the token's `exp` before the socket is closed", CONNECTIONS
    )

    # --- Rate limits
    REST_RATE_PER_MINUTE: int = knob(600, "REST throttle per user (or IP)", RATES)
    LOGIN_RATE: RateSpec = knob(
        RateSpec("5/60/5"),
        "password attempts per username and client address (API login and `/admin/login/`): "
        "tokens/seconds/burst; empty: off",
        RATES,
    )
    ABUSE_MULTIPLIER: int = knob(
        10,
        "a socket denied this many times its class's limit within one period is disconnected",
        RATES,
    )
    RATE_LIMIT_MESSAGE: RateSpec = rate_knob(
        "message",
        "100/60/20",
        "`send-message`, `edit-message`, `delete-message`, `react`, `unreact`; REST sends and "
        "reactions spend it too",
    )
    RATE_LIMIT_TYPING: RateSpec = rate_knob("typing", "20/10/10", "`typing-start`, `typing-stop`")
    RATE_LIMIT_JOIN: RateSpec = rate_knob("join", "30/60/10", "`join-room`, `leave-room`")
    RATE_LIMIT_READ: RateSpec = rate_knob("read", "120/60/30", "`mark-read`")
    RATE_LIMIT_PRESENCE: RateSpec = rate_knob("presence", "10/60/5", "`presence:update`")
    RATE_LIMIT_CALL: RateSpec = rate_knob(
        "call", "10/60/5", "`call:initiate`, `call:token-refresh`"
    )
    # A search reads an index and ranks its matches: the costliest read a user can repeat.
    RATE_LIMIT_SEARCH: RateSpec = rate_knob("search", "30/60/10", "`GET /api/search/messages`")
    # WebRTC trickles dozens of ICE candidates per call setup.
    # Each upload is read, sniffed and (images) decoded and re-encoded: CPU and disk.
    RATE_LIMIT_UPLOAD: RateSpec = rate_knob("upload", "20/60/10", "`POST /api/uploads`")
    RATE_LIMIT_SIGNAL: RateSpec = rate_knob("signal", "600/60/200", "`call:signal`")
    RATE_LIMIT_DEFAULT: RateSpec = rate_knob(
        "default", "600/60/60", "every other socket event (and unknown ones)"
    )

    # --- Chat, presence and calls
    MAX_MESSAGE_LENGTH: int = knob(4000, "characters of message content", DOMAINS)
    # Group commit (chat/message_writer.py): sends that queue while a batch is being written
    # go in the next one, so a batch grows with the load and an idle writer waits for nobody.
    MESSAGE_BATCH_MAX: int = knob(
        200, "socket message sends written in one transaction at most", DOMAINS
    )
    MESSAGE_BATCH_WINDOW_MS: float = knob(
        0.0,
        "how long an idle message writer waits for more sends before writing, milliseconds",
        DOMAINS,
    )
    TYPING_TIMEOUT: float = knob(
        5.0, "a typing mark expires this long after the last `typing-start`, seconds", DOMAINS
    )
    TYPING_REBROADCAST: float = knob(
        3.0, "minimum seconds between two `user-typing` of one user in one room", DOMAINS
    )
    READ_COALESCE_INTERVAL: float = knob(
        1.0,
        "at most one read-position write + `message-read` per user/room per this many seconds",
        DOMAINS,
    )
    NOTIFICATIONS_ON_CONNECT: int = knob(50, "size of `notifications:pending`", DOMAINS)
    # So a quick reconnect (network switch, page reload) does not flap online/offline.
    PRESENCE_OFFLINE_GRACE: float = knob(
        5.0, "seconds before `user-offline` after the user's last connection closed", DOMAINS
    )
    # A whole-cluster crash or a Redis restart leaves no one else to tell.
    PRESENCE_RECONCILE_INTERVAL: float = knob(
        60.0,
        "seconds between checks (by one instance) that every user shown online has a connection",
        DOMAINS,
    )
    CALL_RING_TIMEOUT: float = knob(60.0, "seconds before an unanswered call is `missed`", DOMAINS)
    CALL_DROP_GRACE: float = knob(
        30.0, "an answered call ends when a side stays disconnected this many seconds", DOMAINS
    )
    CALL_SWEEP_INTERVAL: float = knob(
        1.0, "how often each instance expires due calls, seconds", DOMAINS
    )
    # Connection state recovery replays the room events a reconnecting client missed (from
    # chat.RoomEvent) if they are at most this old and this many; otherwise it resyncs.
    RECOVERY_WINDOW: float = knob(
        86400.0, "how far back connection state recovery replays, seconds", DOMAINS
    )
    RECOVERY_MAX_EVENTS: int = knob(
        1000, "at most this many events are replayed; more: not recovered", DOMAINS
    )
    # Offsets are ids, not commit-and-publish order: an event with a smaller id can reach a
    # client after a larger one (published by a slower instance). Replaying this much before
    # the client's offset keeps one still in flight at the drop (the client de-duplicates).
    RECOVERY_LOOKBACK: float = knob(
        0.5,
        "recovery also replays the events recorded this many seconds before the client's "
        "offset (0: off)",
        DOMAINS,
    )

    # --- Attachments (uploads)
    MEDIA_STORAGE: str = module_knob(
        "filesystem",
        "`filesystem` (under MEDIA_ROOT) or `s3` (an S3-compatible bucket, django-storages)",
        MEDIA,
        choices=("filesystem", "s3"),
    )
    MEDIA_ROOT: str = module_knob(
        str(BASE_DIR / "mediafiles"),
        "directory of the stored files with `filesystem` (not served by any web server "
        "directly: downloads are authorized)",
        MEDIA,
        shown_default="`mediafiles/` in the checkout",
        empty_ok=False,
    )
    MEDIA_S3_BUCKET: str = module_knob("", "the bucket, with `s3`", MEDIA)
    MEDIA_S3_ENDPOINT_URL: str = module_knob(
        "", "the S3 endpoint, e.g. `https://s3.eu-west-1.amazonaws.com` or a MinIO URL", MEDIA
    )
    MEDIA_S3_REGION: str = module_knob("", "the bucket's region, with `s3`", MEDIA)
    MEDIA_S3_ACCESS_KEY_ID: str = module_knob(
        "", "with `s3`; empty: boto3's own lookup (instance role, AWS_* variables)", MEDIA
    )
    MEDIA_S3_SECRET_ACCESS_KEY: str = module_knob("", "with `s3`", MEDIA)
    # An nginx `internal` location aliased to MEDIA_ROOT (deploy/nginx.conf): the view
    # authorizes, nginx sends the bytes, and no Python worker is held for a large download.
    MEDIA_ACCEL_REDIRECT: str = module_knob(
        "",
        "URL prefix of nginx's internal location for MEDIA_ROOT, e.g. `/protected-media/`: "
        "downloads answer `X-Accel-Redirect` instead of streaming from Python",
        MEDIA,
    )
    MEDIA_MAX_UPLOAD_BYTES: int = knob(25 * 1024 * 1024, "largest file accepted, bytes", MEDIA)
    # Sniffed from the content (media/sniffing.py), never taken from the client.
    MEDIA_ALLOWED_TYPES: Names = knob(
        (
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
            "audio/mpeg",
            "audio/ogg",
            "audio/mp4",
            "audio/x-wav",
            "video/mp4",
            "video/webm",
            "video/quicktime",
        ),
        "MIME types accepted, as sniffed from the content",
        MEDIA,
    )
    # Pillow refuses larger images before decoding them (a decompression bomb: a small file
    # that decodes to gigabytes). 50 MP is a 200 MB RGBA decode at most.
    MEDIA_MAX_IMAGE_PIXELS: int = knob(
        50_000_000, "images with more pixels are refused unread (decompression bombs)", MEDIA
    )
    MEDIA_THUMBNAIL_SIZE: int = knob(
        320, "longest side of the thumbnail made for each image, pixels", MEDIA
    )
    MEDIA_QUOTA_BYTES: int = knob(
        1024 * 1024 * 1024, "bytes of uploads one user may keep (0: no quota)", MEDIA
    )
    MEDIA_ORPHAN_GRACE: float = knob(
        86400.0, "an upload no message has used is removed after this many seconds", MEDIA
    )
    MEDIA_SWEEP_INTERVAL: float = knob(
        600.0, "how often each instance removes orphan uploads, seconds", MEDIA
    )
    MEDIA_LINK_TTL: float = knob(
        900.0,
        "lifetime of the signed download links `GET /api/uploads/{id}` hands out, seconds",
        MEDIA,
    )

    # --- Push notifications
    # Raw P-256 keys, base64url, as browsers and py-vapid use them (`manage.py vapid_keys`
    # makes a pair). Unset: Web Push is off (registration says so).
    VAPID_PUBLIC_KEY: str = knob("", "Web Push: the VAPID public key (base64url)", PUSH)
    VAPID_PRIVATE_KEY: str = knob("", "Web Push: the VAPID private key (base64url)", PUSH)
    VAPID_SUBJECT: str = knob(
        "", "Web Push: a `mailto:` or `https:` contact for the push services", PUSH
    )
    # FCM HTTP v1 (push/fcm.py): a service account of the Firebase project.
    FCM_CREDENTIALS: str = knob(
        "",
        "FCM: path of the Firebase service account's JSON key file (unset: FCM is off)",
        PUSH,
    )
    FCM_PROJECT_ID: str = knob(
        "", "FCM: the Firebase project id (default: the key file's `project_id`)", PUSH
    )
    FCM_ENDPOINT: str = knob("https://fcm.googleapis.com", "FCM: the HTTP v1 API's base URL", PUSH)
    # APNs (push/apns.py): token-based authentication with a .p8 signing key.
    APNS_KEY: str = knob(
        "", "APNs: path of the .p8 signing key from Apple (unset: APNs is off)", PUSH
    )
    APNS_KEY_ID: str = knob("", "APNs: the signing key's id", PUSH)
    APNS_TEAM_ID: str = knob("", "APNs: the Apple developer team id", PUSH)
    APNS_TOPIC: str = knob(
        "", "APNs: the app's bundle id, for devices registered without a topic", PUSH
    )
    APNS_ENDPOINT: str = knob(
        "",
        "APNs: a base URL replacing Apple's hosts (a relay or a test server; unset: "
        "`api.push.apple.com`, or the sandbox host for sandbox devices)",
        PUSH,
    )
    APNS_CA_FILE: str = knob(
        "", "APNs: a PEM file of CAs to trust instead of the system's (with APNS_ENDPOINT)", PUSH
    )
    PUSH_MAX_DEVICES: int = knob(10, "push devices one user may register", PUSH)
    PUSH_TTL: float = knob(
        86400.0, "a push still undelivered after this many seconds is dropped", PUSH
    )
    PUSH_INTERVAL: float = knob(
        1.0, "how often each instance looks for pushes that are due, seconds", PUSH
    )
    # The browsers' push services (Chrome, Firefox, Edge, Safari). Empty: any https host
    # whose addresses are all public (never the server's own network).
    PUSH_ALLOWED_HOSTS: Names = knob(
        (
            "fcm.googleapis.com",
            "*.push.services.mozilla.com",
            "*.notify.windows.com",
            "web.push.apple.com",
        ),
        "push service hosts Web Push endpoints may name (empty: any public https host)",
        PUSH,
    )

    # --- Call media and coins
    AGORA_APP_ID: str = knob(
        "",
        "Agora: the project's App ID; with the certificate every call gets an Agora channel "
        "and RTC tokens (unset: WebRTC signal relay only)",
        PAID_CALLS,
    )
    AGORA_APP_CERTIFICATE: str = knob(
        "", "Agora: the project's primary App Certificate", PAID_CALLS
    )
    # An Agora token must outlive the ring and the call; clients renew it with
    # `call:token-refresh` when Agora warns it is about to expire.
    CALL_MAX_DURATION: float = knob(
        7200.0,
        "seconds of call an Agora token covers after the ring (then `call:token-refresh`)",
        PAID_CALLS,
    )
    CALL_ICE_URLS: Names = knob(
        (),
        "STUN/TURN URLs for WebRTC calls, e.g. `stun:turn.example.com,turn:turn.example.com"
        "?transport=udp` (`GET /api/calls/config`)",
        PAID_CALLS,
    )
    # coturn's `use-auth-secret`: each client gets a short-lived username and HMAC password
    # (the TURN REST API), so no long-lived TURN password is ever handed out.
    CALL_TURN_SECRET: str = knob(
        "", "coturn's `static-auth-secret`: `turn:` URLs get time-limited credentials", PAID_CALLS
    )
    CALL_PRICE_PER_MINUTE: int = knob(
        0, "coins a minute of a call costs its caller, for receivers who set no price", PAID_CALLS
    )
    CALL_MAX_PRICE_PER_MINUTE: int = knob(
        100_000, "the highest price per minute a user may set", PAID_CALLS
    )
    CALL_PLATFORM_FEE_PERCENT: int = knob(
        20,
        "percent of each call's cost kept by the platform (the receiver gets the rest)",
        PAID_CALLS,
    )
    CALL_BILLING: str = knob(
        "minute",
        "`minute`: each started minute is billed whole; `second`: billed by the second",
        PAID_CALLS,
        choices=("minute", "second"),
    )
    CALL_BALANCE_WARNING: float = knob(
        60.0,
        "`call:balance-low` comes this many seconds before the caller's coins run out",
        PAID_CALLS,
    )

    # --- Cluster and operations
    # Renewed by the instance's heartbeat (every third of it): a crashed instance's users
    # stop counting after this.
    CONNECTION_TTL: float = knob(
        30.0,
        "seconds a connection registry entry lives unless its instance renews it",
        OPERATIONS,
    )
    # Beats come every third of min(INSTANCE_TTL, CONNECTION_TTL) (realtime/cluster.py).
    INSTANCE_TTL: float = knob(
        15.0,
        "a silent instance is dead after this many seconds: a survivor removes its connections",
        OPERATIONS,
    )
    REAP_INTERVAL: float = knob(
        2.0, "how often survivors look for dead instances, seconds", OPERATIONS
    )
    # The official Socket.IO Admin UI (@socket.io/admin-ui) on the `/admin` namespace.
    ADMIN_UI: bool = knob(
        False, "serve the Socket.IO Admin UI's protocol on the `/admin` namespace", OPERATIONS
    )
    ADMIN_UI_USERNAME: str = knob("", "the Admin UI's login (with the password hash)", OPERATIONS)
    # Never the password itself: `manage.py admin_ui_password` prints a Django hash.
    ADMIN_UI_PASSWORD_HASH: str = knob(
        "",
        "Django password hash of the Admin UI's password (`manage.py admin_ui_password`); "
        "unset: only a staff user's access token logs in",
        OPERATIONS,
    )
    ADMIN_UI_READONLY: bool = knob(
        False, "the Admin UI sees everything and can change nothing", OPERATIONS
    )
    METRICS_TOKEN: str = module_knob(
        "",
        "`Authorization: Bearer` token that may read `/metrics` (and the failure details of "
        "`/readyz`) from anywhere",
        OPERATIONS,
    )
    METRICS_ALLOWED_NETWORKS: Names = module_knob(
        ("127.0.0.0/8", "::1/128"),
        "networks that may read `/metrics` without the token",
        OPERATIONS,
    )
    LOG_LEVEL: str = module_knob("INFO", "root log level", OPERATIONS)
    # banter/ops/gcwatch.py: full collections pause every socket of the process.
    GC_FREEZE_SURVIVORS: bool = knob(
        True,
        "`manage.py serve` freezes what survives a full garbage collection, so the next walks "
        "only newer objects",
        OPERATIONS,
    )
    GC_FULL_INTERVAL: float = knob(
        600.0,
        "seconds between full collections that also walk the frozen objects (frees their "
        "cycles: closed connections)",
        OPERATIONS,
    )
    # Off by default: with it on, three fresh-clone CI runs in a row each failed one
    # live-server test (call sweeper, cross-instance delivery) that passes without it; not
    # yet explained (docs/benchmarks.md). At 10k idle connections it cuts the ping lateness
    # p99 from 154 ms to 10 ms.
    GC_COLLECT_INTERVAL: float = knob(
        0.0,
        "with GC_FREEZE_SURVIVORS, seconds between the full collections `serve` runs itself "
        "(each walks only what came since the last; 0: only Python's)",
        OPERATIONS,
    )
    GC_GEN0_THRESHOLD: int = knob(
        700, "allocations between young collections (`gc.set_threshold`'s first)", OPERATIONS
    )
    LOG_FORMAT: str = module_knob(
        "plain",
        "`json`: one JSON object per line (for log shippers)",
        OPERATIONS,
        choices=("plain", "json"),
    )
    ASGI_SERVER: str = module_knob(
        "uvicorn",
        "`manage.py serve`'s server: `uvicorn` or `daphne`",
        OPERATIONS,
        choices=("uvicorn", "daphne"),
    )
    SHUTDOWN_TIMEOUT: float = module_knob(
        10.0, "seconds a SIGTERM drain may take (`manage.py serve`)", OPERATIONS
    )
    # Compares the transport with servers that do not persist (chat/bench.py).
    BENCH_EVENTS: bool = knob(
        False,
        "`make bench` only: register `bench:send`, a room broadcast that stores nothing",
        OPERATIONS,
    )

    def banter_settings(self) -> dict[str, Any]:
        """settings.BANTER: the Banter knobs by name, the socket rate limits by class."""
        banter: dict[str, Any] = {}
        rate_limits: dict[str, str] = {}
        for name, spec in knobs().items():
            if spec.in_banter:
                banter[name] = getattr(self, name)
            elif spec.rate_class is not None:
                rate_limits[spec.rate_class] = getattr(self, name)
        banter["RATE_LIMITS"] = rate_limits
        return banter


def knobs() -> dict[str, Knob]:
    """Every knob by variable name, in the order of the README."""
    return {item.name: item.metadata["knob"] for item in dataclasses.fields(Config)}


def rate_classes() -> set[str]:
    return {spec.rate_class for spec in knobs().values() if spec.rate_class is not None}


def load(environ: Mapping[str, str]) -> Config:
    """Read every knob from `environ`, or raise ImproperlyConfigured naming the variable."""
    _refuse_unknown_names(environ)
    debug = _parse("bool", "DEBUG", environ.get("DEBUG"), False)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(Config):
        spec: Knob = item.metadata["knob"]
        default = spec.debug_default if debug and spec.debug_default is not None else item.default
        # With `from __future__ import annotations` a field's type is its annotation's text.
        value = _parse(str(item.type), item.name, environ.get(item.name), default)
        if spec.choices and value not in spec.choices:
            raise ImproperlyConfigured(f"{item.name} must be {' or '.join(spec.choices)}")
        if not spec.empty_ok and value == "":
            raise ImproperlyConfigured(f"{item.name} must not be empty")
        values[item.name] = value
    return Config(**values)


def _refuse_unknown_names(environ: Mapping[str, str]) -> None:
    known = set(knobs())
    for name in sorted(environ):
        if name.startswith(CHECKED_PREFIXES) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            classes = ", ".join(sorted(rate_classes()))
            raise ImproperlyConfigured(
                f"{name} is not a Banter setting (rate classes: {classes}){hint}"
            )


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def _parse(kind: str, name: str, raw: str | None, default: Any) -> Any:
    """The typed value of one variable. Strings and lists keep an empty value (empty LOGIN_RATE
    turns the limit off); numbers and booleans take their default when empty."""
    if raw is None:
        return default
    if kind == "str":
        return raw
    if kind == "Names":
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if kind == "RateSpec":
        if raw and not _is_rate(raw):
            raise ImproperlyConfigured(
                f"{name}: {raw!r} is not a rate tokens/period_seconds[/burst] (e.g. 100/60/20)"
            )
        return RateSpec(raw)
    if raw.strip() == "":
        return default
    parse = _SCALARS[kind]
    try:
        return parse(raw.strip())
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {raw!r} is not {error}") from None


def _to_bool(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError("a boolean (1/0, true/false, yes/no, on/off)")


def _to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("an integer") from None


def _to_float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError("a number")
    return number


_SCALARS: dict[str, Callable[[str], Any]] = {"bool": _to_bool, "int": _to_int, "float": _to_float}


def _is_rate(text: str) -> bool:
    """'tokens/period_seconds[/burst]': whole tokens and burst, every part above zero (0
    tokens would divide by zero when computing a retry delay)."""
    parts = text.split("/")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        return False
    if len(numbers) not in (2, 3) or not all(math.isfinite(n) and n > 0 for n in numbers):
        return False
    return numbers[0].is_integer() and (len(numbers) == 2 or numbers[2].is_integer())


# --- The README tables


def shown_default(name: str) -> str:
    """The default of a knob as the README shows it."""
    spec = knobs()[name]
    if spec.shown_default is not None:
        return spec.shown_default
    default = {item.name: item.default for item in dataclasses.fields(Config)}[name]
    text = _shown_value(default)
    if spec.debug_default is not None:
        return f"{_shown_value(spec.debug_default)} with DEBUG, else {text}"
    return text


def _shown_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return f"`{','.join(value)}`" if value else "empty"
    return f"`{value}`" if value else "unset"


def markdown() -> str:
    """The README's configuration tables: one per group, a row per knob."""
    lines: list[str] = []
    for group, intro in GROUPS.items():
        lines += [f"**{group}**", ""]
        if intro:
            lines += [intro, ""]
        lines += ["| variable | default | meaning |", "|---|---|---|"]
        for name, spec in knobs().items():
            if spec.group == group:
                lines.append(f"| `{name}` | {shown_default(name)} | {spec.doc} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    if argv != ["--markdown"]:
        print("usage: python -m banter.core.config --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
