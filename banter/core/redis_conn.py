"""Redis clients for the state store, the rate limiter and the channel layer, from settings.

REDIS_URL names the server (and its db, user, password). With REDIS_SENTINELS
("host:port,host:port") and REDIS_SENTINEL_MASTER, the master is found through Sentinel
instead, and clients follow a failover; REDIS_URL then only supplies db and credentials.
CHANNEL_REDIS_URLS ("redis://a,redis://b") shards the channel layer over several servers
(channels-redis hashes channels and groups over its hosts); the state store stays on one.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from redis.connection import parse_url

# Bounded waits: a blackholed Redis must fail calls, not hang them (the health checks and
# heartbeats report it, and the hub falls back to local delivery).
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """ "h1:26379,h2" -> [("h1", 26379), ("h2", 26379)]."""
    hosts = []
    for item in value.split(","):
        item = item.strip()
        if item:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
            hosts.append((host, int(port or 26379)))
    return hosts


def _credentials(url: str) -> dict[str, Any]:
    parsed = parse_url(url) if url else {}
    return {k: parsed[k] for k in ("db", "username", "password") if parsed.get(k) is not None}


def channel_layer_hosts(
    url: str, sentinels: str, master: str, shard_urls: str
) -> list[dict[str, Any]]:
    """channels-redis `hosts`: one entry per shard, or the Sentinel-discovered master.

    socket_timeout bounds a publish to a stalled Redis. (With the list-based layer it must
    also outlast the 5 s blocking BZPOPMIN, or a message popped as the read times out is
    lost: redis-py 8's default of 5 s equals it. 15 s is safe for both layers.)
    """
    timeouts = {"socket_timeout": 15, "socket_connect_timeout": 5}
    if sentinels:
        return [
            {
                "sentinels": parse_sentinels(sentinels),
                "master_name": master,
                **_credentials(url),
                **timeouts,
            }
        ]
    urls = [u.strip() for u in shard_urls.split(",") if u.strip()] or [url]
    return [{"address": u, **timeouts} for u in urls]


def _sentinel() -> tuple[list[tuple[str, int]], str] | None:
    sentinels = getattr(settings, "REDIS_SENTINELS", "")
    if not sentinels:
        return None
    return parse_sentinels(sentinels), settings.REDIS_SENTINEL_MASTER


def async_client(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client for `url`, or for the Sentinel-managed master when configured."""
    options = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        **options,
    }
    sentinel = _sentinel()
    if sentinel is not None:
        hosts, master = sentinel
        return redis.asyncio.sentinel.Sentinel(hosts, socket_timeout=CONNECT_TIMEOUT).master_for(
            master, redis_class=redis.asyncio.Redis, **_credentials(url), **options
        )
    return redis.asyncio.Redis.from_url(url, **options)


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A blocking client for `url`, or for the Sentinel-managed master when configured."""
    sentinel = _sentinel()
    if sentinel is not None:
        hosts, master = sentinel
        return redis.sentinel.Sentinel(hosts, socket_timeout=CONNECT_TIMEOUT).master_for(
            master, redis_class=redis.Redis, **_credentials(url), **options
        )
    return redis.Redis.from_url(url, **options)
