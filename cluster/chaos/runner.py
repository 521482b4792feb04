"""Chaos runner (issue 8): a real cluster, a workload of concurrent clients, a nemesis, a history, the checker.

    cluster/chaos/run --short                          # fixed seed, 3 nodes, every fault type once, ≤ 5 minutes
    cluster/chaos/run --duration 30m [--nodes 5] [--seed N]
    cluster/chaos/run --recheck results/<stamp>       # judge a stored history again with the current checker
    cluster/chaos/run --cleanup                        # remove namespaces (and their processes) left by a killed run

Exit status: 0 no violation, 1 the checker found violations, 2 the run itself failed. Results in
cluster/chaos/results/<stamp>/ (history.jsonl, report.md, report.json, node-I.log). See ops/design-notes.md,
"Chaos suite (issue 8)".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import netns  # noqa: E402
import workload  # noqa: E402
from cluster import Cluster  # noqa: E402
from nemesis import FAULTS, Monitor, Nemesis  # noqa: E402

REPO = HERE.parent.parent
SHORT_SEED = 8
SHORT_SCHEDULE = ["kill_leader", "partition_leader", "kill_follower", "pause", "partition_minority",
                  "partition_bridge", "wipe", "rolling_restart"]
QUIET_S = 5.0
DRAIN_MAX_S = 60.0


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 90s, 30m, 2h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="fixed seed, 3 nodes, every fault type once (≤ 5 min)")
    ap.add_argument("--duration", type=parse_duration, default=parse_duration("5m"),
                    help="how long the nemesis runs in long mode (e.g. 30m)")
    ap.add_argument("--nodes", type=int, default=3, choices=[3, 5])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-netns", action="store_true", help="force the loopback fallback (process faults only)")
    ap.add_argument("--keep-data", action="store_true", help="keep the nodes' data directories")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--cleanup", action="store_true", help="remove leftover flc-* namespaces and exit")
    ap.add_argument("--recheck", type=Path, metavar="RUN_DIR",
                    help="judge a stored run's history.jsonl again with the current checker, rewrite its reports")
    args = ap.parse_args()

    if args.cleanup:
        names = netns.cleanup()
        print(f"removed {len(names)} namespace(s): {' '.join(names) or '-'}")
        return 0
    if args.recheck:
        return recheck(args.recheck)

    bin_path = os.environ.get("FLOTILLA_BIN") or str(REPO / ".build" / "debug" / "flotilla")
    if not os.access(bin_path, os.X_OK):
        print(f"chaos: no flotilla binary at {bin_path} (set FLOTILLA_BIN)", file=sys.stderr)
        return 2
    if args.short:
        args.nodes = 3
    seed = args.seed if args.seed is not None else (SHORT_SEED if args.short else random.randrange(1, 1 << 31))
    rng = random.Random(seed)

    use_netns, why = (False, "--no-netns") if args.no_netns else netns.available()
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-short" if args.short else f"-{args.nodes}n")
    out = args.results / stamp
    out.mkdir(parents=True, exist_ok=False)
    runid = f"{os.getpid() % 100000:05d}"
    topo = netns.Topology(runid, list(range(1, args.nodes + 1)), subnet=rng.randrange(1, 250)) if use_netns else None
    meta = {"mode": "short" if args.short else "long", "nodes": args.nodes, "seed": seed,
            "network_namespaces": use_netns, "fallback_reason": None if use_netns else why,
            "binary": bin_path, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    log(f"run {stamp}: {args.nodes} nodes, seed {seed}, " +
        ("network namespaces" if use_netns else f"loopback fallback ({why}): process faults only"))

    cluster = Cluster(bin_path, out / "data", args.nodes, topo)
    (out / "data").mkdir()
    for n in cluster.nodes.values():
        n.log_path = out / f"node-{n.id}.log"
    history = workload.History(out / "history.jsonl")
    monitor = Monitor(cluster, history)
    ctx = None
    threads: list[threading.Thread] = []
    subscribers: list[workload.Subscriber] = []
    nemesis = None
    began = time.monotonic()
    status = 2
    try:
        if topo:
            topo.create()
            netns.enter(topo.client)  # this thread, and every thread it starts from here on, is a client
        for i in cluster.ids():
            cluster.start(i)
        if not cluster.wait_healthy(60):
            raise RuntimeError("the cluster did not elect a leader within 60 s")
        deadline = time.monotonic() + 30
        while cluster.creds is None and time.monotonic() < deadline:
            cluster.load_credentials()
            time.sleep(0.2)
        if cluster.creds is None:
            raise RuntimeError("no aws-credentials file written")
        log(f"cluster up after {time.monotonic() - began:.1f}s, leader {cluster.healthy()}")
        monitor.start()

        ids = cluster.ids()
        things = [f"chaos-shadow-{k}" for k in range(4 if args.short else 6)]
        ctx = workload.Context(cluster, history, seed, things)
        sub_node = ids[0]
        pub_nodes = ids[1:] + ids[:1]
        for k, (cid, filt) in enumerate([("chaos-sub-0", "chaos/#"), ("chaos-sub-1", "chaos/#"),
                                         ("chaos-sub-quiet", "quiet/#")]):
            s = workload.Subscriber(ctx, cid, filt, ids, ids.index(sub_node))
            subscribers.append(s)
            s.thread.start()
        for s in subscribers:
            s.connected.wait(15)
        time.sleep(1.0)  # routes of the new subscriptions spread by gossip
        for w in range(4):
            threads.append(threading.Thread(target=workload.shadow_worker, args=(ctx, w, ids), daemon=True))
        threads.append(threading.Thread(target=workload.registry_worker, args=(ctx, 0, ids), daemon=True))
        for w in range(2):
            threads.append(threading.Thread(target=workload.publisher, args=(ctx, w, pub_nodes[w:] + pub_nodes[:w],
                                                                               f"chaos/p{w}"), daemon=True))
        for t in threads:
            t.start()

        nemesis = Nemesis(cluster, history, monitor, rng, partitions=use_netns, log=log)
        faults = [f for f in FAULTS if use_netns or not f.startswith("partition")]
        time.sleep(3 if args.short else 10)
        if args.short:
            schedule = [f for f in SHORT_SCHEDULE if f in faults]
            for fault in schedule:
                nemesis.run(fault, 5.0)
                nemesis.heal()
                time.sleep(3.0)
        else:
            end = time.monotonic() + args.duration
            deck: list[str] = []
            while time.monotonic() < end:
                if not deck:  # every fault type once per round, in a seeded order
                    deck = faults[:]
                    rng.shuffle(deck)
                nemesis.run(deck.pop(), rng.uniform(3.0, 15.0))
                nemesis.heal()
                time.sleep(rng.uniform(3.0, 10.0))

        log("final phase: heal, stop the workload, drain the subscribers")
        nemesis.heal()
        ctx.stop.set()
        for t in threads:
            t.join(workload.PUBACK_TIMEOUT + 5)
        drain_end = time.monotonic() + DRAIN_MAX_S
        while time.monotonic() < drain_end:
            if all(s.connected.is_set() for s in subscribers) and \
                    all(time.monotonic() - s.last_delivery >= QUIET_S for s in subscribers):
                break
            time.sleep(0.2)
        leader = cluster.wait_healthy(30) or ids[0]
        proc = history.process("final")
        for thing in things:
            workload.shadow_get(ctx, proc, leader, thing)
        for name in list(ctx.created):
            workload.thing_describe(ctx, proc, leader, name)
        for s in subscribers:
            if s.connected.is_set():
                history.add(s.proc, "ok", "sub_final", value={"client_id": s.client_id})
            else:
                nemesis.notes.append(f"subscriber {s.client_id} not connected at the end: no sub_final")
        ctx.sub_stop.set()
        for s in subscribers:
            s.thread.join(10)
        status = 0
    except KeyboardInterrupt:
        log("interrupted")
        status = 2
    except Exception as e:  # the run failed: still tear down and keep what was recorded
        log(f"run failed: {type(e).__name__}: {e}")
        import traceback
        traceback.print_exc()
        status = 2
    finally:
        if ctx:
            ctx.stop.set()
            ctx.sub_stop.set()
        monitor.stop.set()
        died = cluster.stop_all()
        if topo:
            topo.destroy()
        history.close()
        if not args.keep_data:
            shutil.rmtree(out / "data", ignore_errors=True)
    meta["duration_s"] = round(time.monotonic() - began, 1)
    meta["died_on_their_own"] = died
    meta["faults"] = nemesis.injected if nemesis else []
    meta["notes"] = nemesis.notes if nemesis else []
    meta["history_lines"] = history.lines
    checked = check(out, meta)
    if status == 0:
        status = checked
    log(f"done in {meta['duration_s']}s: exit {status}; report {out / 'report.md'}")
    return status


def recheck(out: Path) -> int:
    """The run's own record (report.json) stays; the verdict is the current checker's, and the report says so."""
    meta = json.loads((out / "report.json").read_text())["run"]
    rev = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    meta["rechecked"] = f"{time.strftime('%Y-%m-%d %H:%M:%S')} with the checker at {rev.stdout.strip() or '?'}"
    status = check(out, meta)
    log(f"rechecked {out}: exit {status}; report {out / 'report.md'}")
    return status


def check(out: Path, meta: dict) -> int:
    checker = HERE / "checker.py"
    meta["checker"] = checker.name
    done = subprocess.run([sys.executable, str(checker), str(out / "history.jsonl"), "--json",
                           str(out / "checker.json"), "--markdown", str(out / "checker.md")],
                          capture_output=True, text=True, timeout=1800)
    sys.stdout.write(done.stdout[-4000:])
    sys.stderr.write(done.stderr[-4000:])
    result = json.loads((out / "checker.json").read_text()) if (out / "checker.json").exists() else {}
    (out / "report.json").write_text(json.dumps({"run": meta, "checker": result}, indent=1) + "\n")
    lines = [f"# Chaos run {out.name}", "",
             "| | |", "|---|---|",
             f"| mode | {meta['mode']} |", f"| nodes | {meta['nodes']} |", f"| seed | {meta['seed']} |",
             f"| network namespaces | {'yes' if meta['network_namespaces'] else 'no — loopback fallback (' + str(meta['fallback_reason']) + '): kill/pause/wipe/restart only, no partitions'} |",
             f"| duration | {meta['duration_s']} s |", f"| history lines | {meta['history_lines']} |",
             f"| checker | {meta['checker']} (exit {done.returncode}) |",
             f"| nodes that died on their own | {meta['died_on_their_own'] or 'none'} |"]
    if meta.get("rechecked"):
        lines += [f"| rechecked | {meta['rechecked']} |"]
    lines += ["",
             "## Faults injected", ""]
    lines += [f"- t={f['t']}s {f['fault']} {f['nodes']}: {f['detail']}" for f in meta["faults"]] or ["- none"]
    if meta["notes"]:
        lines += ["", "## Runner notes", ""] + [f"- {n}" for n in meta["notes"]]
    lines += ["", (out / "checker.md").read_text() if (out / "checker.md").exists() else "(no checker report)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
