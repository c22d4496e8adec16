"""A short chaos run (bench/chaos.py) in CI: kill -9 of one of two instances mid-run.

Two instances on Redis and the suite's database (PostgreSQL when DATABASE_URL is a postgres
URL, else SQLite), 20 clients in 6 rooms sending with acks for 20 s; instance 1 is SIGKILLed
and restarted. Passes when no acked message is lost, nothing is duplicated after
de-duplication, and every client reconnected within 30 s (the script's PASS line). The run is
a subprocess so its figures (and, on failure, the server log excerpts) show in the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "chaos.py"


@pytest.mark.timeout(170)
def test_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    redis_url = require_redis()
    command = [
        sys.executable,
        str(SCRIPT),
        *("--clients", "20", "--rooms", "6", "--duration", "20"),
        *("--redis-url", redis_url, "--log-dir", str(tmp_path)),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=160)
    output = done.stdout + done.stderr
    print(output)  # the figures, shown with -s or -rA, and on failure
    lines = [line for line in done.stdout.splitlines() if line.startswith("CHAOS-FIGURES ")]
    assert lines, f"no figures (exit {done.returncode}):\n{output[-4000:]}"
    figures = json.loads(lines[-1].removeprefix("CHAOS-FIGURES "))
    assert done.returncode == 0 and figures["passed"], output[-8000:]
    assert figures["lost"] == 0
    assert figures["duplicates"] == 0
    assert figures["disconnects_by_kill"] > 0  # the kill really dropped clients
    assert figures["reconnect_max"] is not None and figures["reconnect_max"] <= 30
    assert figures["sent"] > 0 and figures["acked"] == figures["sent"]
