"""The report of a `make bench` run: markdown tables (report.md) and latency plots (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _is_step(row: dict[str, Any]) -> bool:
    """A sweep step (older runs recorded them with the generator's scenario, "chat")."""
    return row.get("scenario") == "sweep-step" or str(row.get("label", "")).startswith("sweep ")


def _is_chat(row: dict[str, Any]) -> bool:
    return str(row.get("label", "")).startswith("chat ") and "error" not in row


# Each server's Node.js counterpart (bench/peers/socketio_node_ref.mjs) for the "vs Node" ratio:
# the same event contract and the same cross-process path.
NODE_COUNTERPART = {
    "banter": "node",
    "reference": "node",
    "banter-pg": "node-pg",
    "banter-redis-nodb": "node-redis",
    "banter-redis-nodb-2": "node-redis",
}


def _ratio(value: Any, base: Any) -> str:
    return f"{value / base:.2f}x" if base and value else "-"


def _vs_node(row: dict[str, Any], best: dict[str, Any]) -> str:
    """`row`'s max deliveries/s over its Node counterpart's, named: "1.25x (node-pg)"."""
    counterpart = NODE_COUNTERPART.get(row["server"])
    ratio = _ratio(row.get("maxDeliveriesPerSecond"), best.get(counterpart or ""))
    return f"{ratio} ({counterpart})" if ratio != "-" else ratio


def _lat(row: dict[str, Any], name: str, key: str) -> Any:
    value = row.get(name)
    return value.get(key) if isinstance(value, dict) else None


def write_report(results: list[dict[str, Any]], out: Path) -> None:
    lines: list[str] = []
    if results:
        meta = results[0]
        lines += [
            f"Run {meta['date']}, commit {meta['commit']}, {meta['cpu']} ({meta['cores']} cores), "
            f"Python {meta['python']}, Node {meta['node']}. Server on core 0, generator on core 1.",
            "",
        ]
    idle = [r for r in results if r.get("scenario") == "idle" and "error" not in r]
    if idle:
        lines += ["### Idle connections", ""]
        lines += _table(
            [
                "server",
                "connections",
                "connected",
                "connect s (retries)",
                "connect p50 / p99 ms",
                "still up",
                "MB / 1000 (over baseline)",
                "peak RSS MB",
                "ping lateness p99 ms",
                "probe RTT p50 / p99 ms",
                "generator loop delay p99 / max ms",
                "server CPU",
            ],
            [
                [
                    r["server"],
                    r["clients"],
                    r["connected"],
                    f"{r.get('connectSeconds')} ({r.get('connectRetries', 0)})",
                    f"{_fmt(_lat(r, 'connectLatency', 'p50'))} / "
                    f"{_fmt(_lat(r, 'connectLatency', 'p99'))}",
                    r.get("stillConnected"),
                    r["mbPer1000"],
                    r["peakRssMb"],
                    _lat(r, "pingLateness", "p99"),
                    f"{_fmt(_lat(r, 'probeRtt', 'p50'))} / {_fmt(_lat(r, 'probeRtt', 'p99'))}",
                    f"{_fmt(_lat(r, 'generatorLoopDelay', 'p99'))} / "
                    f"{_fmt(_lat(r, 'generatorLoopDelay', 'max'))}",
                    r.get("serverCpu"),
                ]
                for r in idle
            ],
        )
    chat = [r for r in results if (_is_chat(r) or _is_step(r)) and "error" not in r]
    if chat:
        lines += ["### Chat (1000 connections, rooms of 10)", ""]
        lines += _table(
            [
                "server",
                "step",
                "msgs/s",
                "deliveries/s",
                "delivery p50 / p90 / p99 / max ms",
                "ack p50 / p99 ms",
                "lost",
                "dupes",
                "server CPU",
                "generator CPU",
                "ok",
            ],
            [
                [
                    r["server"],
                    r["label"],
                    r.get("rate"),
                    r.get("deliveriesPerSecond"),
                    " / ".join(_fmt(_lat(r, "delivery", k)) for k in ("p50", "p90", "p99", "max")),
                    " / ".join(_fmt(_lat(r, "ack", k)) for k in ("p50", "p99")),
                    r.get("lost"),
                    r.get("duplicates"),
                    r.get("serverCpu"),
                    r.get("generatorCpu"),
                    ("yes" if r.get("sustained") else "NO")
                    + (" (generator saturated)" if r.get("generatorSaturated") else ""),
                ]
                for r in chat
            ],
        )
    sweeps = [r for r in results if r.get("scenario") == "sweep"]
    if sweeps:
        best = {r["server"]: r.get("maxDeliveriesPerSecond") for r in sweeps}
        lines += ["### Max sustainable (p99 <= 100 ms, nothing lost)", ""]
        lines += _table(
            ["server", "msgs/s", "deliveries/s", "p99 ms", "server CPU", "vs reference", "vs Node"],
            [
                [
                    r["server"],
                    r.get("maxRate"),
                    r.get("maxDeliveriesPerSecond"),
                    r.get("p99AtMax"),
                    r.get("serverCpuAtMax"),
                    _ratio(r.get("maxDeliveriesPerSecond"), best.get("reference")),
                    _vs_node(r, best),
                ]
                for r in sweeps
            ],
        )
    other = [r for r in results if r.get("scenario") in ("typing", "presence")]
    if other:
        lines += ["### Typing and presence", ""]
        lines += _table(
            ["scenario", "events", "delivered", "lost", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    r["scenario"],
                    r.get("sent", r.get("leavers")),
                    r.get("delivered"),
                    r.get("lost"),
                    *(
                        _lat(r, "typing" if r["scenario"] == "typing" else "offline", k)
                        for k in ("p50", "p99", "max")
                    ),
                ]
                for r in other
            ],
        )
    errors = [r for r in results if "error" in r]
    if errors:
        lines += ["### Runs that failed", ""]
        lines += [f"- {r['scenario']} on {r['server']}: {r['error']}" for r in errors] + [""]
    (out / "report.md").write_text("\n".join(lines))
    plot(results, out)


def plot(results: list[dict[str, Any]], out: Path) -> None:
    """Per server: delivery p50/p99 per second of each chat step, and p99 against load."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    steps = [r for r in results if _is_step(r) and "error" not in r]
    chats = [r for r in results if _is_chat(r)]
    if not steps and not chats:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    by_server: dict[str, list[dict[str, Any]]] = {}
    for row in steps:
        by_server.setdefault(row["server"], []).append(row)
    for server, rows in by_server.items():
        xs = [r["deliveriesPerSecond"] for r in rows]
        (line,) = axes[0].plot(
            xs, [_lat(r, "delivery", "p99") for r in rows], marker="o", label=f"{server} p99"
        )
        axes[0].plot(
            xs,
            [_lat(r, "delivery", "p50") for r in rows],
            linestyle="--",
            color=line.get_color(),
            alpha=0.6,
            label=f"{server} p50",
        )
    axes[0].axhline(100, color="red", linewidth=0.8)
    axes[0].set_xlabel("deliveries/s (1000 connections, rooms of 10)")
    axes[0].set_ylabel("delivery latency ms")
    axes[0].set_yscale("log")
    axes[0].set_title("Latency against load (sweep; red: 100 ms)")
    axes[0].legend(fontsize=7)
    for row in chats:
        timeline = [t for t in row.get("timeline", []) if t and t.get("count")]
        axes[1].plot(
            [t["second"] for t in timeline],
            [t["p99"] for t in timeline],
            label=f"{row['server']} @ {row['rate']} msgs/s",
        )
    axes[1].set_xlabel("second of the run")
    axes[1].set_ylabel("delivery p99 ms")
    axes[1].set_yscale("log")
    axes[1].set_title("Fixed-rate chat run, p99 per second")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)


def main() -> None:
    """Rebuild report.md and latency.png of a run: python bench/report.py RESULTS_DIR."""
    import json
    import sys

    out = Path(sys.argv[1])
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line]
    write_report(rows, out)


if __name__ == "__main__":
    main()
