#!/usr/bin/env python3
"""Failover time of a local three-node cluster (issue 3, "Done when" 4): leader SIGKILL → first committed write.

Starts `cluster/up 3` (release binary, default raft settings unless FAILOVER_ELECTION_MS / FAILOVER_HEARTBEAT_MS
are set) on free loopback ports, then KILLS times (default 20):

1. wait until the three nodes agree on a leader and hold the same applied state (`GET /cluster/state`);
2. SIGKILL the leader, and at once send a write (CreateThing) to each survivor; a survivor holds the request until a
   new leader has committed it and the survivor has applied it, so the first 200 marks the end of the failover.
   A write answered with an error is sent again at once;
3. restart the killed node on its data directory (it rejoins as a follower) and go on.

Prints one line per kill and a summary (min, median, p90, max), and writes benchmarks/results/failover-<date>.json.
Everything stays on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("FLOTILLA_BIN", str(ROOT / ".build/release/flotilla"))
BIN = Path(os.environ["FLOTILLA_BIN"])
KILLS = int(os.environ.get("KILLS", "20"))
ELECTION_MS = os.environ.get("FAILOVER_ELECTION_MS", "")
HEARTBEAT_MS = os.environ.get("FAILOVER_HEARTBEAT_MS", "")

# The integration tests' cluster kit: cluster/up on free ports, node restarts, status and state questions.
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from cluster_kit import LocalCluster  # noqa: E402


def wait(c: LocalCluster, what: str, condition, timeout: float) -> None:
    try:
        c.wait_for(what, condition, timeout)
    except AssertionError as e:
        sys.exit(str(e))


def first_write(c: LocalCluster, survivors: list[int], kill_at: float, k: int) -> tuple[float, int]:
    """Sends a write to every survivor at once; returns (seconds from the kill to the first 200, that node)."""
    done = threading.Event()
    result: list[tuple[float, int]] = []
    lock = threading.Lock()

    def writer(i: int) -> None:
        n = 0
        while not done.is_set() and time.monotonic() - kill_at < 30:
            code, _ = c.http(i, "POST", f"/things/failover-{k}-{i}-{n}", b"{}", timeout=15)
            if code == 200:
                with lock:
                    if not result:
                        result.append((time.monotonic() - kill_at, i))
                done.set()
                return
            n += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in survivors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    if not result:
        sys.exit(f"kill {k}: no write committed within 30 s")
    return result[0]


def main() -> None:
    if not BIN.exists():
        sys.exit(f"{BIN} not found: swift build -c release --product flotilla")
    data = Path(tempfile.mkdtemp(prefix="flotilla-failover."))
    c = LocalCluster(data, 3, election_ms=int(ELECTION_MS) if ELECTION_MS else None,
                     heartbeat_ms=int(HEARTBEAT_MS) if HEARTBEAT_MS else None, log_level="info", wait_s=60)
    up = c.up()
    if up.returncode != 0:
        sys.exit(f"cluster/up failed:\n{up.stdout}\n{up.stderr}")
    ids = [1, 2, 3]
    times: list[float] = []
    elections: list[float] = []
    try:
        for k in range(1, KILLS + 1):
            wait(c, "an agreed leader", lambda: c.agreed_leader(ids) is not None, 60)
            wait(c, "equal state on all nodes", lambda: c.same_state(ids), 60)
            leader = c.agreed_leader(ids)
            survivors = [i for i in ids if i != leader]
            elected: list[float] = []

            def watch_election() -> None:
                while time.monotonic() - kill_at < 30:
                    if c.agreed_leader(survivors) is not None:
                        elected.append(time.monotonic() - kill_at)
                        return
                    time.sleep(0.01)

            os.kill(c.pid(leader), signal.SIGKILL)
            kill_at = time.monotonic()
            watcher = threading.Thread(target=watch_election)
            watcher.start()
            seconds, via = first_write(c, survivors, kill_at, k)
            watcher.join(timeout=35)
            times.append(seconds)
            elections.append(elected[0] if elected else float("nan"))
            print(f"kill {k:2d}: leader {leader} killed; new leader agreed after {elections[-1]:.3f} s; "
                  f"first write committed via node {via} after {seconds:.3f} s", flush=True)
            c.start_node(leader, join=False, peers=ids)  # on its data directory, as cluster/up started it
    finally:
        c.down()
    ordered = sorted(times)
    summary = {
        "kills": len(times), "min_s": ordered[0], "median_s": statistics.median(ordered),
        "p90_s": ordered[max(0, int(len(ordered) * 0.9) - 1)], "max_s": ordered[-1],
        "election_timeout_ms": int(ELECTION_MS or 800), "heartbeat_ms": int(HEARTBEAT_MS or 100),
        "election_median_s": statistics.median(elections),
        "times_s": times, "elections_s": elections,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    print(f"failover over {len(times)} kills: min {summary['min_s']:.3f} s, median {summary['median_s']:.3f} s, "
          f"p90 {summary['p90_s']:.3f} s, max {summary['max_s']:.3f} s; new leader agreed: median "
          f"{summary['election_median_s']:.3f} s "
          f"(election timeout {summary['election_timeout_ms']} ms, heartbeat {summary['heartbeat_ms']} ms)")
    out = ROOT / "benchmarks" / "results" / f"failover-{datetime.date.today().isoformat()}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
