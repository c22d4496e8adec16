"""`make bench`: Banter, a python-socketio and a Node.js socket.io reference under one generator.

Each server process is pinned to core 0 and the load generator (bench/loadgen.mjs, the
official socket.io-client in Node.js) to core 1 with taskset; the generator reports its own
CPU, and a step whose generator used more than GENERATOR_SATURATED of its core is flagged, so
a saturated generator is never mistaken for a slow server. Servers run with heartbeats,
access logs off, rate limits out of the way (the bench measures the transport, not the
limiter) and tokens that outlive the run.

Servers (--servers):
  banter       `manage.py serve` (the product's entry point) on the embedded default: SQLite,
               in-memory channel layer; `bench:send` (no persistence, chat/bench.py).
  banter-pg    the same on PostgreSQL with `send-message` (persisted before the ack).
  banter-redis PostgreSQL + REDIS_URL, `send-message`; also two processes (cores 0 and 1,
               sharing core 1 with the generator; see docs/benchmarks.md).
  reference    bench/peers/socketio_ref.py: python-socketio on uvicorn + uvloop.
  node         bench/peers/socketio_node_ref.mjs: socket.io 4.8 on Node.js, one process,
               `bench:send` (the reference's contract, no persistence).
  node-pg      the same with `send-message`: one INSERT (node-postgres, a pool of 10) into its
               own table of the bench's PostgreSQL database before the broadcast and the ack.
  node-redis   `node` with @socket.io/redis-adapter on Redis (BENCH_REDIS): every broadcast
               is published to Redis; the counterpart of banter-redis-nodb.
  The report puts every server's max sustainable deliveries/s against the reference's and
  against its Node counterpart's (banter/node, banter-pg/node-pg, banter-redis-nodb/node-redis).

Scenarios (--scenarios): idle (1k/5k/10k connections held --hold seconds: RSS per 1000,
heartbeat lateness, probe round trips), chat (1000 connections, 100 rooms of 10, --rate
messages/s), sweep (raise the rate until p99 > 100 ms or a loss: max sustainable
deliveries/s), typing, presence (Banter only: the references have no typing or presence), cluster
(the Redis kinds' sweeps, node-redis included; skipped without Redis). Idle skips the
PostgreSQL kinds (connecting is the same as without the database).

Output in --out (default bench/results/<UTC stamp>): results.jsonl (one JSON line per step),
report.md (the tables docs/benchmarks.md quotes), latency-*.png; progress on stderr.

    .venv/bin/python bench/run.py                       # everything (about 35 minutes)
    .venv/bin/python bench/run.py --quick               # shorter holds and steps
    .venv/bin/python bench/run.py --scenarios sweep --servers banter,reference
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import server_env  # noqa: E402
from tests.live_server import LiveServer, free_port  # noqa: E402
from tests.services import tcp_reachable  # noqa: E402

SERVER_CORE = "0"
GENERATOR_CORE = "1"
GENERATOR_SATURATED = 0.9  # share of its core above which the generator is the bottleneck
P99_LIMIT_MS = 100.0
ROOM_SIZE = 10
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
OPEN_LIMITS = "100000000/60/10000000"  # tokens/period/burst: never reached


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- process figures ---------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """RSS and CPU of the server processes, twice a second, while a step runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_rss = 0
        self.last_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_start = self._cpu()
        self._started = time.monotonic()

    def _cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.last_rss = sum(rss_bytes(pid) for pid in self.pids)
            except OSError:
                return
            self.peak_rss = max(self.peak_rss, self.last_rss)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = self._cpu() - self._cpu_start
        self.seconds = time.monotonic() - self._started


# -- servers -----------------------------------------------------------------------------


@dataclass
class Users:
    """Who the generator connects as: (user id, room id, token) per user."""

    rows: list[tuple[int, int, str]]

    def clients(self, count: int, urls: list[str]) -> list[dict[str, Any]]:
        return [
            {"user": user, "room": room, "token": token, "url": urls[index % len(urls)]}
            for index, (user, room, token) in enumerate(self.rows[:count])
        ]


@dataclass
class ServerKind:
    name: str
    send_event: str
    receive_event: str
    database: str  # "sqlite", "postgres" or "" (none)
    redis: bool = False
    processes: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    peer: str = ""  # "" for Banter, else the reference's language: "python" or "node"

    @property
    def is_banter(self) -> bool:
        return self.peer == ""


SERVER_KINDS = {
    "banter": ServerKind("banter", "bench:send", "bench:message", "sqlite"),
    "banter-pg": ServerKind("banter-pg", "send-message", "message-received", "postgres"),
    "banter-redis": ServerKind(
        "banter-redis", "send-message", "message-received", "postgres", redis=True
    ),
    "banter-redis-2": ServerKind(
        "banter-redis-2", "send-message", "message-received", "postgres", redis=True, processes=2
    ),
    # The transport across processes: bench:send (no database write) through Redis.
    "banter-redis-nodb": ServerKind(
        "banter-redis-nodb", "bench:send", "bench:message", "postgres", redis=True
    ),
    "banter-redis-nodb-2": ServerKind(
        "banter-redis-nodb-2", "bench:send", "bench:message", "postgres", redis=True, processes=2
    ),
    "reference": ServerKind("reference", "bench:send", "bench:message", "", peer="python"),
    # bench/peers/socketio_node_ref.mjs: plain socket.io 4.8, one Node.js process.
    "node": ServerKind("node", "bench:send", "bench:message", "", peer="node"),
    "node-pg": ServerKind("node-pg", "send-message", "message-received", "postgres", peer="node"),
    "node-redis": ServerKind(
        "node-redis", "bench:send", "bench:message", "", redis=True, peer="node"
    ),
}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="banter-bench-"))
        self.results: list[dict[str, Any]] = []
        self.meta = machine_facts()
        self._users: dict[str, tuple[str, Users]] = {}  # database kind -> (url, users)
        self._peer_database: str | None = None

    # -- databases ---------------------------------------------------------------------

    def database(self, kind: str, count: int) -> tuple[str, Users]:
        """A migrated database with `count` bench users in rooms of ROOM_SIZE (made once)."""
        cached = self._users.get(kind)
        if cached is not None and len(cached[1].rows) >= count:
            return cached
        if kind == "sqlite":
            path = self.tmp / f"bench-{count}.sqlite3"
            path.unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        else:
            name = f"banter_bench_{os.getpid()}"
            psql(POSTGRES, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            psql(POSTGRES, f'CREATE DATABASE "{name}"')
            url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        env = {**os.environ, **self.banter_env(url, 0)}
        log(f"migrating a {kind} database and creating {count} users")
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        env.update(BENCH_USERS=str(count), BENCH_ROOM_SIZE=str(ROOM_SIZE))
        script = (ROOT / "bench" / "setup_db.py").read_text()
        done = subprocess.run(
            [*manage, "shell", "-c", script],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        rows = [tuple(json.loads(line)) for line in done.stdout.splitlines() if line[:1] == "["]
        users = Users(rows)
        self._users[kind] = (url, users)
        return url, users

    def peer_database(self) -> str:
        """node-pg's PostgreSQL database: the bench's own (banter-pg's), where the Node server
        makes its own table; created empty when banter-pg has not run (yet)."""
        cached = self._users.get("postgres")
        if cached is not None:
            return cached[0]
        if self._peer_database is None:
            name = f"banter_bench_{os.getpid()}"
            psql(POSTGRES, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            psql(POSTGRES, f'CREATE DATABASE "{name}"')
            self._peer_database = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        return self._peer_database

    def drop_databases(self) -> None:
        """The run's PostgreSQL database and SQLite files: each run makes its own, so
        leaving them would pile up a database per run on the machine."""
        if any(url.startswith("postgres") for url, _ in self._users.values()) or (
            self._peer_database is not None
        ):
            psql(POSTGRES, f'DROP DATABASE IF EXISTS "banter_bench_{os.getpid()}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)

    def banter_env(self, database_url: str, port: int) -> dict[str, str]:
        env = server_env(
            database_url,
            port,
            BENCH_EVENTS="1",
            LOG_LEVEL="WARNING",
            JWT_ACCESS_SECONDS=str(6 * 3600),
            AUTH_EXPIRING_NOTICE="60",
            AUTH_EXPIRY_GRACE="30",
            MAX_CONNECTIONS_PER_PROCESS="20000",
            # Every bench client comes from the generator's one loopback address: the
            # per-address cap on unauthenticated sessions is for attackers, not for it.
            MAX_HANDSHAKES_PER_IP="0",
        )
        env.update(self.args.env)
        for name in ("DEFAULT", "MESSAGE", "TYPING", "JOIN", "READ", "PRESENCE"):
            env[f"RATE_LIMIT_{name}"] = OPEN_LIMITS
        return env

    # -- servers -----------------------------------------------------------------------

    @contextmanager
    def server(self, kind: ServerKind, users_needed: int) -> Iterator[tuple[list[str], Users]]:
        """Start `kind` (pinned), yield (its URLs, users); stop it afterwards."""
        servers: list[LiveServer] = []
        if kind.is_banter:
            url, users = self.database(kind.database, users_needed)
            for index in range(kind.processes):
                port = free_port()
                env = self.banter_env(url, port)
                if kind.redis:
                    env["REDIS_URL"] = REDIS
                    env["REDIS_PREFIX"] = f"bench{os.getpid()}"
                core = SERVER_CORE if index == 0 else GENERATOR_CORE
                argv = ["taskset", "-c", core, *self.banter_argv(port)]
                servers.append(
                    LiveServer(
                        argv,
                        port=port,
                        env=env | kind.extra_env,
                        log_path=self.out / "logs" / f"{kind.name}-{index}-{port}.log",
                        cwd=ROOT,
                    )
                )
        elif kind.peer == "node":
            users = Users([(i, i // ROOM_SIZE, f"ref-user-{i:08d}") for i in range(users_needed)])
            port = free_port()
            script = ROOT / "bench" / "peers" / "socketio_node_ref.mjs"
            argv = ["taskset", "-c", SERVER_CORE, "node", str(script), "--port", str(port)]
            if kind.database == "postgres":
                argv += ["--database-url", self.peer_database()]
            if kind.redis:
                argv += ["--redis-url", REDIS]
            servers.append(
                LiveServer(
                    argv,
                    port=port,
                    env=kind.extra_env,
                    log_path=self.out / "logs" / f"{kind.name}-{port}.log",
                    cwd=ROOT,
                )
            )
        else:
            users = Users([(i, i // ROOM_SIZE, f"ref-user-{i:08d}") for i in range(users_needed)])
            port = free_port()
            argv = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "uvicorn"]
            argv += ["bench.peers.socketio_ref:app", "--loop", "uvloop", "--ws", "websockets"]
            argv += ["--host", "127.0.0.1", "--port", str(port)]
            argv += ["--log-level", "warning", "--no-access-log"]
            servers.append(
                LiveServer(
                    argv, port=port, log_path=self.out / "logs" / f"reference-{port}.log", cwd=ROOT
                )
            )
        try:
            for server in servers:
                server.start(timeout=60)
            time.sleep(1.0)  # imports finished, loops idle: the baseline RSS
            self.current_pids = [s.pid for s in servers if s.pid is not None]
            yield [s.url for s in servers], users
        finally:
            for server in servers:
                server.stop(timeout=15)

    def banter_argv(self, port: int) -> list[str]:
        if self.args.asgi == "serve":
            argv = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1"]
            return [*argv, "--port", str(port), "-v", "0", *self.args.serve_args]
        # A bare ASGI server on the same application (to choose the default by measurement).
        ws = self.args.asgi.split("-", 1)[1]
        argv = [sys.executable, "-m", "uvicorn", "banter.asgi:application", "--loop", "uvloop"]
        argv += ["--ws", ws, "--host", "127.0.0.1", "--port", str(port)]
        return [*argv, "--log-level", "warning", "--no-access-log"]

    # -- generator ---------------------------------------------------------------------

    def generate(self, config: dict[str, Any], label: str) -> dict[str, Any]:
        config = {**config, "label": label}
        path = self.tmp / f"loadgen-{label}.json"
        path.write_text(json.dumps(config))
        argv = ["taskset", "-c", GENERATOR_CORE, "node", "--max-old-space-size=4096"]
        argv += [str(ROOT / "bench" / "loadgen.mjs"), str(path)]
        done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=900)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"load generator failed ({done.returncode}) for {label}")
        return dict(json.loads(lines[-1]))

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        row = {**self.meta, **row}
        self.results.append(row)
        with open(self.out / "results.jsonl", "a") as out:
            out.write(json.dumps(row) + "\n")
        summary = {k: row.get(k) for k in ("scenario", "server", "label")}
        log(f"result {summary}: {brief(row)}")
        return row

    # -- scenarios ---------------------------------------------------------------------

    def idle(self, kind: ServerKind) -> None:
        for count in self.args.idle_counts:
            with self.server(kind, count) as (urls, users):
                base = sum(rss_bytes(pid) for pid in self.current_pids)
                config = self.base_config(kind, users.clients(count, urls), "idle")
                config.update(hold=self.args.hold, probes=10, connectRate=self.args.connect_rate)
                config["pingInterval"] = 25
                with Sampler(self.current_pids) as sampler:
                    result = self.generate(config, f"{kind.name}-idle-{count}")
                held = sampler.peak_rss - base
                self.record(
                    {
                        "scenario": "idle",
                        "server": kind.name,
                        "label": f"idle {count}",
                        **result,
                        "baselineRssMb": mb(base),
                        "peakRssMb": mb(sampler.peak_rss),
                        "mbPer1000": round(held / 1e6 / count * 1000, 2),
                        "totalMbPer1000": round(sampler.peak_rss / 1e6 / count * 1000, 2),
                        "serverCpu": round(sampler.cpu / sampler.seconds, 3),
                    }
                )

    def chat_step(
        self, kind: ServerKind, urls: list[str], users: Users, rate: int, label: str
    ) -> dict[str, Any]:
        config = self.base_config(kind, users.clients(self.args.clients, urls), "chat")
        config.update(rate=rate, duration=self.args.step, warmup=min(2, self.args.step / 4))
        # Connecting runs the connect hooks (database reads, presence): let them finish so the
        # step measures the chat load alone.
        config.update(connectRate=1000, settle=self.args.settle)
        with Sampler(self.current_pids) as sampler:
            result = self.generate(config, label)
        saturated = result.get("generatorCpu", 0) > GENERATOR_SATURATED
        delivery = result.get("delivery", {})
        ok = (
            result["lost"] == 0
            and result["ackFailures"] == 0
            and result["duplicates"] == 0
            and delivery.get("count", 0) > 0
            and delivery["p99"] <= P99_LIMIT_MS
        )
        return {
            "server": kind.name,
            **result,
            "serverCpu": round(sampler.cpu / sampler.seconds, 3),
            "peakRssMb": mb(sampler.peak_rss),
            "generatorSaturated": saturated,
            "sustained": ok,
        }

    def chat(self, kind: ServerKind) -> None:
        with self.server(kind, self.args.clients) as (urls, users):
            rate = self.args.rate
            row = self.chat_step(kind, urls, users, rate, f"{kind.name}-chat-{rate}")
            self.record({**row, "scenario": "chat", "label": f"chat {rate}/s"})

    def sweep(self, kind: ServerKind) -> None:
        best: dict[str, Any] | None = None
        with self.server(kind, self.args.clients) as (urls, users):
            for rate in self.sweep_rates(kind):
                label = f"{kind.name}-sweep-{rate}"
                row = self.chat_step(kind, urls, users, rate, label)
                self.record({**row, "scenario": "sweep-step", "label": f"sweep {rate}/s"})
                if not row["sustained"]:
                    break
                best = row
                time.sleep(1)
        self.record(
            {
                "scenario": "sweep",
                "server": kind.name,
                "label": "max sustainable",
                "maxRate": best["rate"] if best else 0,
                "maxDeliveriesPerSecond": best["deliveriesPerSecond"] if best else 0,
                "p99AtMax": best["delivery"]["p99"] if best else None,
                "serverCpuAtMax": best["serverCpu"] if best else None,
            }
        )

    def sweep_rates(self, kind: ServerKind) -> list[int]:
        if self.args.sweep_rates:
            return list(self.args.sweep_rates)
        if kind.name == "node-pg":  # one INSERT per message, no other reads or writes
            return [200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000]
        if kind.send_event == "send-message":  # persisted: a database write per message
            return [100, 200, 300, 400, 500, 600, 800, 1000, 1200]
        if kind.name == "reference":
            return [400, 600, 800, 1000, 1200, 1400, 1600, 2000]
        if kind.peer == "node":
            return [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]
        return [1000, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000]

    def typing(self, kind: ServerKind) -> None:
        with self.server(kind, self.args.clients) as (urls, users):
            config = self.base_config(kind, users.clients(self.args.clients, urls), "typing")
            config.update(rate=self.args.typing_rate, duration=self.args.step)
            result = self.generate(config, f"{kind.name}-typing")
            self.record({"scenario": "typing", "server": kind.name, "label": "typing", **result})

    def presence(self, kind: ServerKind) -> None:
        with self.server(kind, self.args.clients) as (urls, users):
            config = self.base_config(kind, users.clients(self.args.clients, urls), "presence")
            config.update(leavers=100, grace=5.0, settle=2)
            result = self.generate(config, f"{kind.name}-presence")
            self.record(
                {"scenario": "presence", "server": kind.name, "label": "presence", **result}
            )

    def base_config(
        self, kind: ServerKind, clients: list[dict[str, Any]], scenario: str
    ) -> dict[str, Any]:
        return {
            "scenario": scenario,
            "url": clients[0]["url"],
            "clients": clients,
            "sendEvent": kind.send_event,
            "receiveEvent": kind.receive_event,
            "messageSize": self.args.message_size,
            "client": self.args.client,
        }


# -- helpers ------------------------------------------------------------------------------


def mb(value: int) -> float:
    return round(value / 1e6, 1)


def brief(row: dict[str, Any]) -> str:
    keys = (
        "connected",
        "connectSeconds",
        "connectRetries",
        "mbPer1000",
        "deliveriesPerSecond",
        "lost",
        "duplicates",
    )
    parts = [f"{k}={row[k]}" for k in keys if k in row]
    for name in (
        "connectLatency",
        "delivery",
        "ack",
        "typing",
        "offline",
        "pingLateness",
        "probeRtt",
    ):
        if isinstance(row.get(name), dict) and row[name].get("count"):
            parts.append(f"{name} p50={row[name]['p50']} p99={row[name]['p99']}")
    for key in ("serverCpu", "generatorCpu", "maxDeliveriesPerSecond", "generatorSaturated"):
        if key in row:
            parts.append(f"{key}={row[key]}")
    return " ".join(parts)


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-q", "-c", sql], check=True, capture_output=True)


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "node": node,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / stamp)
    parser.add_argument("--scenarios", default="idle,chat,sweep,typing,presence,cluster")
    parser.add_argument("--servers", default="banter,reference,node,banter-pg,node-pg")
    parser.add_argument("--quick", action="store_true", help="short holds and steps")
    parser.add_argument("--hold", type=float, default=60.0)
    parser.add_argument("--idle-counts", default="1000,5000,10000")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="chat: messages/s in total")
    parser.add_argument("--step", type=float, default=10.0, help="seconds per chat/sweep step")
    parser.add_argument(
        "--sweep-rates", default="", help="messages/s per step (default: by server kind)"
    )
    parser.add_argument(
        "--connect-rate",
        type=int,
        default=250,
        help="idle: new connections a second (every connect reads the database on Banter)",
    )
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after connecting")
    parser.add_argument("--typing-rate", type=int, default=500)
    parser.add_argument(
        "--client",
        choices=["lean", "sio"],
        default="lean",
        help="generator's client: a lean Engine.IO/Socket.IO client on `ws`, or socket.io-client",
    )
    parser.add_argument("--message-size", type=int, default=64)
    parser.add_argument(
        "--asgi",
        default="serve",
        choices=["serve", "uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto"],
        help="how Banter is served: `manage.py serve` (default) or a bare uvicorn",
    )
    parser.add_argument(
        "--serve-args", default="", help="extra `manage.py serve` arguments for Banter"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the Banter servers"
    )
    args = parser.parse_args(argv)
    args.env = dict(item.split("=", 1) for item in args.env)
    if args.quick:
        args.hold = min(args.hold, 15.0)
        args.step = min(args.step, 6.0)
    args.idle_counts = [int(n) for n in args.idle_counts.split(",")]
    args.sweep_rates = [int(n) for n in args.sweep_rates.split(",") if n]
    args.serve_args = args.serve_args.split()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("taskset", "node"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: make bench needs it", file=sys.stderr)
            return 2
    bench = Bench(args)
    scenarios = args.scenarios.split(",")
    kinds = [SERVER_KINDS[name] for name in args.servers.split(",")]
    plan: list[tuple[str, Callable[[ServerKind], None], ServerKind]] = []
    for kind in kinds:
        for name in ("idle", "chat", "sweep"):
            if name in scenarios and not (name == "idle" and kind.database == "postgres"):
                plan.append((name, getattr(bench, name), kind))
        if kind.name == "banter":
            for name in ("typing", "presence"):
                if name in scenarios:
                    plan.append((name, getattr(bench, name), kind))
    if "cluster" in scenarios:
        if tcp_reachable(REDIS, 6379):
            for name in (
                "banter-redis",
                "banter-redis-2",
                "banter-redis-nodb",
                "banter-redis-nodb-2",
                "node-redis",
            ):
                if ("sweep", name) not in {(step, planned.name) for step, _, planned in plan}:
                    plan.append(("sweep", bench.sweep, SERVER_KINDS[name]))
        else:
            log(f"cluster skipped: Redis not reachable at {REDIS}")
    log(f"{len(plan)} runs; results in {args.out}")
    try:
        for name, run, kind in plan:
            log(f"== {name} on {kind.name}")
            try:
                run(kind)
            except Exception as exc:  # one failed run must not lose the others' figures
                log(f"{name} on {kind.name} failed: {exc!r}")
                bench.record({"scenario": name, "server": kind.name, "error": repr(exc)})
    finally:
        bench.drop_databases()
    from bench.report import write_report

    write_report(bench.results, args.out)
    log(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
