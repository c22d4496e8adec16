"""Measure channels-redis' two channel layers for Banter's hub pattern.

Compares ``channels_redis.core.RedisChannelLayer`` ("core") with
``channels_redis.pubsub.RedisPubSubChannelLayer`` ("pubsub") used the way
``banter/realtime/hub.py`` uses a layer: each process owns ONE channel
(``new_channel("banter.hub.")``), adds it to every group it serves, runs one receive
loop, and publishes ``{"type", "group", "frame"}`` messages (a ~200-byte frame) with
sequential ``group_send`` calls from one publisher task.

Scenarios (each prints one JSON line, then a readable summary is printed at the end):

* ``latency``: two processes, P (publishes and is subscribed too) and R (receives only),
  both in the same N groups. P publishes to random groups at fixed rates (and flat out)
  for ``--duration`` seconds. Reports publish->receive latency (p50/p90/p99/max, from a
  ``time.time()`` embedded in the frame), losses, duplicates, achieved rate, CPU seconds
  of P, R and the Redis server (``INFO cpu``) per 1000 published messages.
* ``restart``: a private ``redis-server`` (no persistence) is SIGTERMed while P publishes
  at ``--outage-rate`` msgs/s and started again on the same port ``--down`` seconds
  later. Records what ``receive()``/``group_send()`` raise and for how long, whether
  the group memberships survive, whether delivery resumes without re-adding groups, and
  what re-adding (as the hub's refresh loop would) changes.
* ``pause``: the same, but the private server is ``SIGSTOP``-ed for ``--pause`` seconds
  and then ``SIGCONT``-ed (looks like a network blip).

The latency scenario uses ``--redis-url`` (default: local Redis, database 15, with a
unique key prefix that is flushed afterwards); restart/pause never touch it and use a
private server on a free port. No Django settings are needed: the layer classes are
instantiated directly with Banter's production options.

Run::

    .venv/bin/python bench/channel_layers.py --redis-url redis://127.0.0.1:6379/15
    .venv/bin/python bench/channel_layers.py --scenarios restart,pause --layers pubsub
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import redis

LAYERS = ("core", "pubsub")
FRAME_BYTES = 200
CHANNEL_PREFIX = "banter.hub."


# -- layer construction (Banter's settings) ---------------------------------------------


def make_layer(kind: str, url: str, prefix: str) -> Any:
    """Instantiate a layer with the options banter/settings.py uses in production."""
    hosts = [{"address": url, "socket_timeout": 15, "socket_connect_timeout": 5}]
    if kind == "core":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(
            hosts=hosts, prefix=prefix, capacity=100_000, expiry=60, group_expiry=86400
        )
    if kind == "pubsub":
        from channels_redis.pubsub import RedisPubSubChannelLayer

        # capacity/expiry/group_expiry do not exist on the pub/sub layer.
        return RedisPubSubChannelLayer(hosts=hosts, prefix=prefix)
    raise ValueError(f"unknown layer {kind!r}")


def make_frame(seq: int, t_sched: float, t_send: float) -> str:
    head = f"{seq}|{t_sched:.6f}|{t_send:.6f}|"
    return head + "x" * max(0, FRAME_BYTES - len(head))


def parse_frame(frame: str) -> tuple[int, float, float]:
    seq, t_sched, t_send, _ = frame.split("|", 3)
    return int(seq), float(t_sched), float(t_send)


def describe(exc: BaseException) -> str:
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{kind}: {text}" if text else kind


# -- worker process -----------------------------------------------------------------------


@dataclass
class WorkerConfig:
    role: str  # "pub" (publishes and receives) or "sub" (receives only)
    layer: str
    url: str
    prefix: str
    groups: list[str]
    rate: float | None  # msgs/s, None = as fast as possible
    duration: float | None  # seconds of publishing, None = until "stop"
    seed: int = 1


class LogCapture(logging.Handler):
    """Keeps what channels-redis / redis-py log (the pub/sub layer only logs its errors)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[float, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = describe(record.exc_info[1]) if record.exc_info and record.exc_info[1] else ""
        self.records.append((record.created, record.getMessage()[:120], error))


class Worker:
    def __init__(self, cfg: WorkerConfig, conn: Connection, capture: LogCapture) -> None:
        self.cfg = cfg
        self.conn = conn
        self.capture = capture
        self.layer = make_layer(cfg.layer, cfg.url, cfg.prefix)
        self.channel = ""
        # receipts: (seq, t_sched, t_send, t_recv)
        self.receipts: list[tuple[int, float, float, float]] = []
        self.seen: set[int] = set()
        self.recv_errors: list[tuple[float, str]] = []
        # sends: (seq, t_sched, t_send, t_done, error or "")
        self.sends: list[tuple[int, float, float, float, str]] = []
        self.stop_publishing = asyncio.Event()
        self.cpu0 = 0.0

    async def receive_loop(self) -> None:
        """Same shape as Hub._receive_loop: log, back off 0.1 s doubling to 5 s, go on."""
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.recv_errors.append((time.time(), describe(exc)))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            now = time.time()
            seq, t_sched, t_send = parse_frame(message["frame"])
            self.receipts.append((seq, t_sched, t_send, now))
            self.seen.add(seq)

    async def publish_loop(self) -> None:
        """Sequential group_send like Hub._publish_loop; paced, catching up when behind."""
        cfg = self.cfg
        rng = random.Random(cfg.seed)
        interval = 1.0 / cfg.rate if cfg.rate else 0.0
        t0 = time.time()
        seq = 0
        while not self.stop_publishing.is_set():
            now = time.time()
            if cfg.duration is not None and now - t0 >= cfg.duration:
                break
            if cfg.rate:
                due = t0 + seq * interval
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                t_sched = due
            else:
                t_sched = now
            group = rng.choice(cfg.groups)
            t_send = time.time()
            message = {
                "type": "hub.frame",
                "group": group,
                "frame": make_frame(seq, t_sched, t_send),
            }
            error = ""
            try:
                await self.layer.group_send(group, message)
            except Exception as exc:  # the hub logs and moves on: the message is lost
                error = describe(exc)
            self.sends.append((seq, t_sched, t_send, time.time(), error))
            seq += 1
            if seq % 64 == 0:
                await asyncio.sleep(0)

    def _published(self, _task: asyncio.Task[None]) -> None:
        self.conn.send(("published", sum(1 for s in self.sends if not s[4])))

    async def add_groups(self) -> dict[str, Any]:
        started = time.time()
        errors: list[str] = []
        for group in self.cfg.groups:
            try:
                await self.layer.group_add(group, self.channel)
            except Exception as exc:
                errors.append(describe(exc))
        return {"started": started, "done": time.time(), "errors": dict(Counter(errors))}

    async def drain(self, expected: int, quiet: float, cap: float) -> None:
        """Wait until every expected seq arrived, nothing arrived for `quiet` s, or `cap` s."""
        deadline = time.time() + cap
        last_count, last_change = -1, time.time()
        while time.time() < deadline:
            if expected and len(self.seen) >= expected:
                return
            if len(self.receipts) != last_count:
                last_count, last_change = len(self.receipts), time.time()
            elif time.time() - last_change >= quiet:
                return
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        cfg = self.cfg
        self.channel = await self.layer.new_channel(CHANNEL_PREFIX)
        setup = await self.add_groups()
        recv_task = asyncio.create_task(self.receive_loop())
        await asyncio.sleep(0.5)  # let the pub/sub layer's reader task start
        self.conn.send(("ready", {"channel": self.channel, "setup": setup}))
        pub_task: asyncio.Task[None] | None = None
        while True:
            command, *args = await asyncio.to_thread(self.conn.recv)
            if command == "go":
                self.cpu0 = time.process_time()
                if cfg.role == "pub":
                    pub_task = asyncio.create_task(self.publish_loop())
                    pub_task.add_done_callback(self._published)
            elif command == "readd":
                self.conn.send(("readded", await self.add_groups()))
            elif command == "drain":
                expected, quiet, cap = args
                await self.drain(expected, quiet, cap)
                break
            elif command == "stop":
                self.stop_publishing.set()
                if pub_task is not None:
                    await pub_task
                await self.drain(0, quiet=2.0, cap=10.0)
                break
        cpu = time.process_time() - self.cpu0
        recv_task.cancel()
        with contextlib.suppress(BaseException):
            await recv_task
        if cfg.role == "pub":
            with contextlib.suppress(Exception):
                await self.layer.flush()
        self.conn.send(
            (
                "result",
                {
                    "role": cfg.role,
                    "cpu": cpu,
                    "receipts": self.receipts,
                    "recv_errors": self.recv_errors,
                    "sends": self.sends,
                    "logs": self.capture.records,
                },
            )
        )


def worker_main(cfg: WorkerConfig, conn: Connection) -> None:
    capture = LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    root.setLevel(logging.WARNING)
    asyncio.run(Worker(cfg, conn, capture).run())


# -- parent-side helpers -------------------------------------------------------------------


class Pair:
    """The publisher process P and the receiver process R of one scenario."""

    def __init__(
        self, layer: str, url: str, groups: list[str], rate: float | None, duration: float | None
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        self.procs: dict[str, Any] = {}
        self.conns: dict[str, Connection] = {}
        self.ready: dict[str, Any] = {}
        for role in ("pub", "sub"):
            cfg = WorkerConfig(role, layer, url, self.prefix, groups, rate, duration)
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(cfg, child_end), daemon=True)
            proc.start()
            self.procs[role], self.conns[role] = proc, parent_end
        for role in self.conns:
            self.ready[role] = self.expect(role, "ready", 60)

    def expect(self, role: str, what: str, timeout: float) -> Any:
        conn = self.conns[role]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if conn.poll(0.1):
                kind, payload = conn.recv()
                if kind == what:
                    return payload
        raise TimeoutError(f"{role} did not send {what!r} within {timeout}s")

    def send(self, command: tuple[Any, ...], roles: tuple[str, ...] = ("pub", "sub")) -> None:
        for role in roles:
            self.conns[role].send(command)

    def results(self, timeout: float) -> dict[str, dict[str, Any]]:
        out = {role: self.expect(role, "result", timeout) for role in ("pub", "sub")}
        for proc in self.procs.values():
            proc.join(10)
        return out

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def delivery_stats(sends: list[tuple[Any, ...]], receipts: list[tuple[Any, ...]]) -> dict[str, Any]:
    ok = {s[0] for s in sends if not s[4]}
    counts = Counter(r[0] for r in receipts)
    latencies = sorted(r[3] - r[2] for r in receipts)
    return {
        "received": len(counts),
        "lost": len(ok - counts.keys()),
        "duplicates": sum(c - 1 for c in counts.values() if c > 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p90_ms": ms(percentile(latencies, 90)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(latencies[-1] if latencies else None),
    }


# -- scenario: latency + CPU -------------------------------------------------------------


def run_latency(
    layer: str, url: str, groups: list[str], rate: float | None, duration: float
) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    pair = Pair(layer, url, groups, rate, duration)
    try:
        cpu_before = redis_cpu(client)
        t_go = time.time()
        pair.send(("go",))
        sent_ok = pair.expect("pub", "published", duration + 120)
        t_published = time.time()
        # Both wait for every message P sent, or 5 s without progress.
        pair.send(("drain", sent_ok, 5.0, 120.0))
        results = pair.results(180)
        cpu_redis = redis_cpu(client) - cpu_before
    finally:
        pair.close()
        client.close()
    sends = results["pub"]["sends"]
    sent_ok = sum(1 for s in sends if not s[4])
    publish_seconds = (sends[-1][3] - sends[0][2]) if sends else 0.0
    per_k = 1000 / len(sends) if sends else 0.0
    return {
        "scenario": "latency",
        "layer": layer,
        "target_rate": rate or "max",
        "duration_s": duration,
        "groups": len(groups),
        "sent": len(sends),
        "send_errors": len(sends) - sent_ok,
        "achieved_rate": round(len(sends) / publish_seconds, 1) if publish_seconds else 0,
        "publish_wall_s": round(t_published - t_go, 2),
        "receiver": delivery_stats(sends, results["sub"]["receipts"]),
        "publisher_self": delivery_stats(sends, results["pub"]["receipts"]),
        "cpu_ms_per_1000": {
            "publisher_process": round(results["pub"]["cpu"] * 1000 * per_k, 1),
            "receiver_process": round(results["sub"]["cpu"] * 1000 * per_k, 1),
            "redis_server": round(cpu_redis * 1000 * per_k, 1),
        },
        "cpu_s_total": {
            "publisher_process": round(results["pub"]["cpu"], 3),
            "receiver_process": round(results["sub"]["cpu"], 3),
            "redis_server": round(cpu_redis, 3),
        },
        "receive_errors": len(results["sub"]["recv_errors"]) + len(results["pub"]["recv_errors"]),
        "layer_logs": len(results["sub"]["logs"]) + len(results["pub"]["logs"]),
    }


# -- scenario: Redis restart / pause -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.time() + 10
        while time.time() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return time.time()
            time.sleep(0.01)
        raise RuntimeError("private redis-server did not start")

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)

    def cleanup(self) -> None:
        self.terminate()
        shutil.rmtree(self.dir, ignore_errors=True)


def probe_groups(port: int, layer: str, prefix: str, groups: list[str]) -> int | None:
    """How many groups still hold both processes' channels (in Redis for either layer)."""
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        if layer == "core":
            pipe = client.pipeline()
            for group in groups:
                pipe.zcard(f"{prefix}:group:{group}")
            counts = pipe.execute()
        else:
            names = [f"{prefix}__group__{group}" for group in groups]
            reply = client.execute_command("PUBSUB", "NUMSUB", *names)
            counts = reply[1::2]
        return sum(1 for count in counts if int(count) >= 2)
    except redis.RedisError:
        return None
    finally:
        client.close()


def summarize_errors(
    events: list[tuple[float, str]], t_event: float, t_up: float
) -> dict[str, Any]:
    if not events:
        return {"count": 0}
    return {
        "count": len(events),
        "kinds": dict(Counter(e[1] for e in events)),
        "first_after_event_s": round(events[0][0] - t_event, 3),
        "last_after_redis_up_s": round(events[-1][0] - t_up, 3),
    }


def outage_delivery(
    sends: list[tuple[Any, ...]], receipts: list[tuple[Any, ...]], marks: dict[str, float]
) -> dict[str, Any]:
    """Split sends into phases by the time group_send was called and count losses."""
    phases = {
        "before": (0.0, marks["event"]),
        "outage": (marks["event"], marks["up"]),
        "after_up_no_readd": (marks["up"], marks["readd"]),
        "during_readd": (marks["readd"], marks["readd_done"]),
        "after_readd": (marks["readd_done"], float("inf")),
    }
    got = {r[0] for r in receipts}
    out: dict[str, Any] = {}
    for name, (start, end) in phases.items():
        in_phase = [s for s in sends if start <= s[2] < end]
        ok = [s for s in in_phase if not s[4]]
        out[name] = {
            "sent": len(in_phase),
            "send_failed": len(in_phase) - len(ok),
            "sent_ok_but_lost": sum(1 for s in ok if s[0] not in got),
            "delivered": sum(1 for s in in_phase if s[0] in got),
        }
    after_up = sorted(r[3] for r in receipts if r[2] >= marks["up"])
    before_readd = [t for t in after_up if t < marks["readd"]]
    after_readd = [t for t in after_up if t >= marks["readd_done"]]
    recv_times = sorted(r[3] for r in receipts)
    gaps = [b - a for a, b in itertools.pairwise(recv_times)]
    counts = Counter(r[0] for r in receipts)
    out["first_delivery_after_up_s"] = (
        round(before_readd[0] - marks["up"], 3) if before_readd else None
    )
    out["first_delivery_after_readd_s"] = (
        round(after_readd[0] - marks["readd_done"], 3) if after_readd else None
    )
    out["longest_delivery_gap_s"] = round(max(gaps), 3) if gaps else None
    out["duplicates"] = sum(c - 1 for c in counts.values() if c > 1)
    out["max_latency_from_schedule_s"] = (
        round(max(r[3] - r[1] for r in receipts), 3) if receipts else None
    )
    return out


def run_outage(
    kind: str,
    layer: str,
    binary: str,
    groups: list[str],
    rate: float,
    down: float,
    pause: float,
    observe: float,
    baseline: float,
) -> dict[str, Any]:
    server = PrivateRedis(binary, free_port())
    server.start()
    url = f"redis://127.0.0.1:{server.port}/0"
    pair: Pair | None = None
    try:
        pair = Pair(layer, url, groups, rate, None)
        probes: list[dict[str, Any]] = [
            {
                "t": "before",
                "groups_with_both": probe_groups(server.port, layer, pair.prefix, groups),
            }
        ]
        pair.send(("go",))
        time.sleep(baseline)
        t_event = time.time()
        assert server.proc is not None
        if kind == "restart":
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(10)
            time.sleep(max(0.0, t_event + down - time.time()))
            t_up = server.start()
        else:
            server.proc.send_signal(signal.SIGSTOP)
            time.sleep(pause)
            server.proc.send_signal(signal.SIGCONT)
            t_up = time.time()
        for offset in (0.5, 2.0, 5.0, observe):
            time.sleep(max(0.0, t_up + offset - time.time()))
            probes.append(
                {
                    "t": f"up+{offset:g}s",
                    "groups_with_both": probe_groups(server.port, layer, pair.prefix, groups),
                }
            )
        t_readd = time.time()
        pair.send(("readd",))
        readd = {role: pair.expect(role, "readded", 60) for role in ("pub", "sub")}
        t_readd_done = max(r["done"] for r in readd.values())
        time.sleep(5.0)
        probes.append(
            {
                "t": "after_readd+5s",
                "groups_with_both": probe_groups(server.port, layer, pair.prefix, groups),
            }
        )
        pair.send(("stop",))
        results = pair.results(60)
    finally:
        if pair is not None:
            pair.close()
        server.cleanup()
    marks = {"event": t_event, "up": t_up, "readd": t_readd, "readd_done": t_readd_done}
    sends = results["pub"]["sends"]
    send_errors = [(s[2], s[4]) for s in sends if s[4]]
    durations = [(s[3] - s[2], s[2]) for s in sends]
    slowest = max(durations) if durations else (0.0, t_event)
    return {
        "scenario": kind,
        "layer": layer,
        "rate": rate,
        "down_s": down if kind == "restart" else None,
        "paused_s": pause if kind == "pause" else None,
        "redis_back_after_event_s": round(t_up - t_event, 3),
        "group_probes": probes,
        "group_send_errors": summarize_errors(send_errors, t_event, t_up),
        "slowest_group_send_s": round(slowest[0], 3),
        "slowest_group_send_started_after_event_s": round(slowest[1] - t_event, 3),
        "receive_errors": {
            role: summarize_errors(results[role]["recv_errors"], t_event, t_up)
            for role in ("sub", "pub")
        },
        "layer_logs": {
            role: summarize_errors(
                [(r[0], f"{r[1]} [{r[2]}]") for r in results[role]["logs"]], t_event, t_up
            )
            for role in ("sub", "pub")
        },
        "readd": {
            role: {"took_s": round(r["done"] - r["started"], 3), "errors": r["errors"]}
            for role, r in readd.items()
        },
        "receiver": outage_delivery(sends, results["sub"]["receipts"], marks),
        "publisher_self": outage_delivery(sends, results["pub"]["receipts"], marks),
    }


# -- output ---------------------------------------------------------------------------


def print_summary(rows: list[dict[str, Any]]) -> None:
    latency = [r for r in rows if r["scenario"] == "latency"]
    if latency:
        print(
            "\nLatency / CPU (R = receiver process, P = publisher's own copy; "
            "CPU ms per 1000 published msgs)"
        )
        header = (
            f"{'layer':7} {'target':>6} {'achieved':>9} {'sent':>7} {'R p50':>7} "
            f"{'R p90':>7} {'R p99':>8} {'R max':>8} {'R lost':>6} {'R dup':>5} "
            f"{'P p99':>8} {'P lost':>6} {'cpu P':>6} {'cpu R':>6} {'cpu rds':>7}"
        )
        print(header)
        for r in latency:
            rc, pc, cpu = r["receiver"], r["publisher_self"], r["cpu_ms_per_1000"]
            print(
                f"{r['layer']:7} {r['target_rate']!s:>6} {r['achieved_rate']:>9} "
                f"{r['sent']:>7} {rc['p50_ms']!s:>7} {rc['p90_ms']!s:>7} "
                f"{rc['p99_ms']!s:>8} {rc['max_ms']!s:>8} {rc['lost']:>6} "
                f"{rc['duplicates']:>5} {pc['p99_ms']!s:>8} {pc['lost']:>6} "
                f"{cpu['publisher_process']:>6} {cpu['receiver_process']:>6} "
                f"{cpu['redis_server']:>7}"
            )
    for r in rows:
        if r["scenario"] not in ("restart", "pause"):
            continue
        print(
            f"\n{r['scenario']} / {r['layer']}: redis back {r['redis_back_after_event_s']}s "
            f"after the event; groups with both members: "
            + ", ".join(f"{p['t']}={p['groups_with_both']}" for p in r["group_probes"])
        )
        print(
            f"  group_send errors: {r['group_send_errors']}; slowest group_send "
            f"{r['slowest_group_send_s']}s"
        )
        for role in ("sub", "pub"):
            print(f"  receive() errors [{role}]: {r['receive_errors'][role]}")
            print(f"  layer log records [{role}]: {r['layer_logs'][role]}")
        for role in ("receiver", "publisher_self"):
            d = r[role]
            print(f"  {role}: " + "; ".join(f"{k}={v}" for k, v in d.items()))
        print(f"  re-add: {r['readd']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/15",
        help="Redis for the latency/CPU scenario (a unique prefix is used)",
    )
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--scenarios", default="latency,restart,pause")
    parser.add_argument(
        "--rates",
        default="500,2000,5000,max",
        help="msgs/s for the latency scenario; 'max' = unpaced",
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--outage-rate", type=float, default=200.0)
    parser.add_argument("--down", type=float, default=2.0, help="restart: seconds without Redis")
    parser.add_argument("--pause", type=float, default=3.0, help="pause: seconds SIGSTOPped")
    parser.add_argument(
        "--observe",
        type=float,
        default=12.0,
        help="restart/pause: seconds to watch before re-adding groups",
    )
    parser.add_argument(
        "--redis-server", default=shutil.which("redis-server") or "/usr/bin/redis-server"
    )
    parser.add_argument("--json-out", help="also append the JSON lines to this file")
    args = parser.parse_args()

    layers = [x for x in args.layers.split(",") if x]
    scenarios = [x for x in args.scenarios.split(",") if x]
    groups = [f"room.{i}" for i in range(args.groups)]
    rates: list[float | None] = [None if x == "max" else float(x) for x in args.rates.split(",")]
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        line = json.dumps(row, default=str)
        print(line, flush=True)
        if args.json_out:
            with open(args.json_out, "a") as fh:
                fh.write(line + "\n")

    print(
        f"# python {sys.version.split()[0]}, pid {os.getpid()}, layers {layers}, "
        f"scenarios {scenarios}",
        file=sys.stderr,
    )
    for layer in layers:
        if "latency" in scenarios:
            for rate in rates:
                emit(run_latency(layer, args.redis_url, groups, rate, args.duration))
        for kind in ("restart", "pause"):
            if kind in scenarios:
                emit(
                    run_outage(
                        kind,
                        layer,
                        args.redis_server,
                        groups,
                        args.outage_rate,
                        args.down,
                        args.pause,
                        args.observe,
                        baseline=5.0,
                    )
                )
    print_summary(rows)


if __name__ == "__main__":
    main()
