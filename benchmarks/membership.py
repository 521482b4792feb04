#!/usr/bin/env python3
"""Gossip membership on a local three-node cluster (issue 7, "Done when" 3), measured next to Serf in one run.

1. Subscription propagation: a fresh subscription on node 2, then publishers on nodes 1 and 3 publish a probe every
   2 ms on its topic; the time from the SUBACK to the first probe from each other node is how long the new route
   took to be usable from there. ROUTES times (default 40): p50/p99/max over all (node, trial) pairs.
2. Failure detection: SIGKILL of node 3; the time until node 1 and node 2 both report it dead
   (`GET /cluster/members`), then node 3 restarts and rejoins (time until both see it alive again). KILLS times.
3. The anchor: three `serf agent`s (Debian's serf, default LAN profile) on loopback, the same SIGKILL, the time until
   both survivors list the victim as `failed` (`serf members -format=json`). Serf's LAN profile and Flotilla's gossip
   defaults use the same protocol period (1 s) and probe timeout (500 ms).

Prints a table and writes benchmarks/results/membership-<time>.json. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
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
KILLS = int(os.environ.get("KILLS", "5"))
ROUTES = int(os.environ.get("ROUTES", "40"))

sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from cluster_kit import LocalCluster, free_port_block  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

HOST = "127.0.0.1"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(pct(values, 99) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def connect(port: int, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311)
    c.connect(HOST, port, keepalive=30)
    c.loop_start()
    return c


def members(c: LocalCluster, i: int) -> dict[int, str]:
    code, body = c.http(i, "GET", "/cluster/members", None, timeout=2)
    if code != 200:
        return {}
    return {m["id"]: m["state"] for m in body["members"]}


def route_propagation(c: LocalCluster) -> list[float]:
    pubs = {i: connect(c.ports(i).mqtt, f"route-pub-{i}") for i in (1, 3)}
    times: list[float] = []
    try:
        for k in range(ROUTES):
            topic = f"bench/route/{k}/{time.time_ns()}"
            got: dict[int, float] = {}
            lock = threading.Lock()
            subacked = threading.Event()
            t0 = [0.0]

            def on_message(_c, _u, msg):
                src = int(msg.payload.decode())
                with lock:
                    got.setdefault(src, time.monotonic())

            def on_subscribe(_c, _u, _mid, _rc, _p=None):
                t0[0] = time.monotonic()
                subacked.set()

            sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"route-sub-{k}", protocol=mqtt.MQTTv311)
            sub.on_message = on_message
            sub.on_subscribe = on_subscribe
            sub.connect(HOST, c.ports(2).mqtt, keepalive=30)
            sub.loop_start()
            sub.subscribe(topic, qos=0)
            if not subacked.wait(5):
                sys.exit("no SUBACK within 5 s")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with lock:
                    if len(got) == 2:
                        break
                for i, p in pubs.items():
                    if i not in got:
                        p.publish(topic, str(i), qos=0)
                time.sleep(0.002)
            sub.disconnect()
            sub.loop_stop()
            if len(got) != 2:
                sys.exit(f"route {k}: probes from {sorted(got)} only within 10 s")
            times += [got[i] - t0[0] for i in (1, 3)]
    finally:
        for p in pubs.values():
            p.disconnect()
            p.loop_stop()
    return times


def flotilla_detection(c: LocalCluster) -> tuple[list[float], list[float]]:
    detect, rejoin = [], []
    for k in range(KILLS):
        c.wait_for("all three alive in every view",
                   lambda: all(members(c, i).get(j) == "alive" for i in (1, 2, 3) for j in (1, 2, 3)), 30)
        time.sleep(1)
        t0 = time.monotonic()
        os.kill(c.pid(3), signal.SIGKILL)
        deadline = t0 + 60
        while time.monotonic() < deadline:
            if all(members(c, i).get(3) == "dead" for i in (1, 2)):
                break
            time.sleep(0.01)
        else:
            sys.exit(f"kill {k}: node 3 not declared dead within 60 s")
        detect.append(time.monotonic() - t0)
        t1 = time.monotonic()
        c.start_node(3, join=False, peers=[1, 2, 3])
        c.wait_for("node 3 alive again in both views",
                   lambda: all(members(c, i).get(3) == "alive" for i in (1, 2)), 60)
        rejoin.append(time.monotonic() - t1)
        print(f"flotilla kill {k}: dead after {detect[-1]:.2f} s, alive again {rejoin[-1]:.2f} s after restart",
              file=sys.stderr)
    return detect, rejoin


def serf_detection(work: Path) -> list[float] | None:
    serf = shutil.which("serf")
    if not serf:
        print("serf not installed (apt-get install serf): no anchor", file=sys.stderr)
        return None
    base = free_port_block(10)
    bind = {i: base + i for i in (1, 2, 3)}
    rpc = {i: base + 4 + i for i in (1, 2, 3)}
    procs: dict[int, subprocess.Popen] = {}

    def start(i: int) -> None:
        args = [serf, "agent", f"-node=n{i}", f"-bind={HOST}:{bind[i]}", f"-rpc-addr={HOST}:{rpc[i]}",
                "-log-level=warn"]
        if i != 1:
            args.append(f"-join={HOST}:{bind[1]}")
        log = open(work / f"serf-{i}.log", "ab")
        procs[i] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def view(i: int) -> dict[str, str]:
        r = subprocess.run([serf, "members", f"-rpc-addr={HOST}:{rpc[i]}", "-format=json"], capture_output=True,
                           text=True, timeout=5)
        if r.returncode != 0:
            return {}
        return {m["name"]: m["status"] for m in json.loads(r.stdout)["members"]}

    def wait_all_alive() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(view(i).get(f"n{j}") == "alive" for i in (1, 2, 3) for j in (1, 2, 3)):
                return
            time.sleep(0.1)
        sys.exit("serf: the three agents did not all see each other alive within 30 s")

    times: list[float] = []
    try:
        for i in (1, 2, 3):
            start(i)
            time.sleep(0.3)
        for k in range(KILLS):
            wait_all_alive()
            time.sleep(1)
            t0 = time.monotonic()
            procs[3].send_signal(signal.SIGKILL)
            procs[3].wait(5)
            deadline = t0 + 60
            while time.monotonic() < deadline:
                if all(view(i).get("n3") == "failed" for i in (1, 2)):
                    break
                time.sleep(0.01)
            else:
                sys.exit(f"serf kill {k}: n3 not failed within 60 s")
            times.append(time.monotonic() - t0)
            print(f"serf kill {k}: failed after {times[-1]:.2f} s", file=sys.stderr)
            start(3)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(5)
    return times


def main() -> None:
    if not BIN.exists():
        sys.exit(f"{BIN} not found: swift build -c release --product flotilla")
    work = Path(tempfile.mkdtemp(prefix="flotilla-bench-membership."))
    c = LocalCluster(work / "cluster", 3, election_ms=None, heartbeat_ms=None, log_level="info")
    result: dict = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                              text=True).stdout.strip(),
                    "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        up = c.up()
        if up.returncode != 0:
            sys.exit(f"cluster/up failed: {up.stderr}")
        routes = route_propagation(c)
        result["route_propagation"] = summary(routes)
        detect, rejoin = flotilla_detection(c)
        result["flotilla_failure_detection"] = summary(detect)
        result["flotilla_rejoin"] = summary(rejoin)
    finally:
        c.down()
    serf = serf_detection(work)
    if serf:
        result["serf_failure_detection"] = summary(serf)
    shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "benchmarks" / "results" / f"membership-{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
