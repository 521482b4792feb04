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
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("FLOTILLA_BIN", ROOT / ".build/release/flotilla"))
KILLS = int(os.environ.get("KILLS", "20"))
ELECTION_MS = os.environ.get("FAILOVER_ELECTION_MS", "")
HEARTBEAT_MS = os.environ.get("FAILOVER_HEARTBEAT_MS", "")
HOST = "127.0.0.1"


def free_base(span: int) -> int:
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32760 - span, 10)
        socks = []
        try:
            for p in range(base, base + span):
                s = socket.socket()
                socks.append(s)
                s.bind((HOST, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    sys.exit("no free port block below 32768")


class Cluster:
    def __init__(self, data: Path):
        self.data = data
        self.base = free_base(30)
        self.env = dict(os.environ, FLOTILLA_BIN=str(BIN), CLUSTER_DATA=str(data), CLUSTER_BASE_PORT=str(self.base),
                        CLUSTER_WAIT="60")
        if ELECTION_MS:
            self.env["CLUSTER_ELECTION_MS"] = ELECTION_MS
        if HEARTBEAT_MS:
            self.env["CLUSTER_HEARTBEAT_MS"] = HEARTBEAT_MS
        self.args: dict[int, list[str]] = {}

    def script(self, name: str, *args: str) -> None:
        done = subprocess.run([str(ROOT / "cluster" / name), *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            sys.exit(f"cluster/{name} failed:\n{done.stdout}\n{done.stderr}")

    def api(self, i: int) -> int:
        return self.base + 10 * (i - 1) + 1

    def pid(self, i: int) -> int:
        return int((self.data / f"node-{i}.pid").read_text())

    def request(self, i: int, method: str, path: str, body: bytes | None = None, timeout: float = 15):
        req = urllib.request.Request(f"http://{HOST}:{self.api(i)}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, {}
        except (OSError, ValueError):
            return 0, {}

    def agreed_leader(self, nodes) -> int | None:
        views = [self.request(i, "GET", "/cluster/status", timeout=2) for i in nodes]
        if any(code != 200 or v.get("leaderID") is None for code, v in views):
            return None
        leaders = {(v["leaderID"], v["term"]) for _, v in views}
        leader = leaders.pop()[0] if len(leaders) == 1 else None
        return leader if leader in nodes else None

    def same_state(self, nodes) -> bool:
        digests = set()
        for i in nodes:
            code, v = self.request(i, "GET", "/cluster/state", timeout=5)
            if code != 200:
                return False
            digests.add(v["digest"])
        return len(digests) == 1

    def restart(self, i: int) -> None:
        """Starts node i again with the arguments cluster/up gave it (read back from /proc before the kill)."""
        log = open(self.data / f"node-{i}.log", "ab")
        proc = subprocess.Popen(self.args[i], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        (self.data / f"node-{i}.pid").write_text(f"{proc.pid}\n")


def wait(what: str, condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    sys.exit(f"timed out after {timeout}s waiting for {what}")


def first_write(c: Cluster, survivors: list[int], kill_at: float, k: int) -> tuple[float, int]:
    """Sends a write to every survivor at once; returns (seconds from the kill to the first 200, that node)."""
    done = threading.Event()
    result: list[tuple[float, int]] = []
    lock = threading.Lock()

    def writer(i: int) -> None:
        n = 0
        while not done.is_set() and time.monotonic() - kill_at < 30:
            code, _ = c.request(i, "POST", f"/things/failover-{k}-{i}-{n}", b"{}", timeout=15)
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
    c = Cluster(data)
    c.script("up", "3")
    ids = [1, 2, 3]
    for i in ids:  # the command lines cluster/up used, to restart a node the same way
        c.args[i] = Path(f"/proc/{c.pid(i)}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
    times: list[float] = []
    elections: list[float] = []
    try:
        for k in range(1, KILLS + 1):
            wait("an agreed leader", lambda: c.agreed_leader(ids) is not None, 60)
            wait("equal state on all nodes", lambda: c.same_state(ids), 60)
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
            c.restart(leader)
    finally:
        subprocess.run([str(ROOT / "cluster" / "down")], env=c.env, capture_output=True, timeout=120)
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
