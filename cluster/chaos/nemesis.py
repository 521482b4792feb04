"""The chaos run's nemesis: one fault at a time, each logged as a `nemesis` start/stop pair in the history, the
cluster healed (partitions removed, paused nodes continued, dead nodes restarted) and waited on between faults.

Faults: `kill_leader`, `kill_follower` (SIGKILL, restart on the data dir), `pause` (SIGSTOP … SIGCONT, longer than
the election timeout), `partition_minority`, `partition_leader` (the leader isolated), `partition_bridge` (two
halves that cannot see each other, one node that sees both), `wipe` (removed through a peer's operator API, data
directory wiped, started with --join, added back), `rolling_restart` (SIGTERM and restart of every node in turn,
each waited on). Partitions need network namespaces; without them they are skipped (said in the report).
"""

from __future__ import annotations

import random
import signal
import threading
import time

from cluster import Cluster
from workload import History

FAULTS = ["kill_leader", "kill_follower", "pause", "partition_minority", "partition_leader", "partition_bridge",
          "wipe", "rolling_restart"]
HEAL_TIMEOUT = 45.0


class Monitor(threading.Thread):
    """Polls every node's /cluster/status and records the cluster's leader as seen from outside: the leader named
    at the highest term any node reports (None while nobody at that term names one)."""

    def __init__(self, cluster: Cluster, history: History, interval: float = 0.2):
        super().__init__(name="monitor", daemon=True)
        self.cluster, self.history, self.interval = cluster, history, interval
        self.stop = threading.Event()
        self.leader: int | None = None
        self.term = -1

    def observe(self) -> tuple[int | None, int]:
        views = [v for v in (self.cluster.status(i) for i in self.cluster.ids()) if v]
        if not views:
            return None, self.term
        term = max(v["term"] for v in views)
        named = [v["leaderID"] for v in views if v["term"] == term and v.get("leaderID") is not None]
        return (named[0] if named else None), term

    def run(self) -> None:
        while not self.stop.is_set():
            leader, term = self.observe()
            if (leader, term) != (self.leader, self.term):
                self.leader, self.term = leader, term
                self.history.add("monitor", "info", "leader", value={"leader": leader, "term": term})
            self.stop.wait(self.interval)


class Nemesis:
    def __init__(self, cluster: Cluster, history: History, monitor: Monitor, rng: random.Random, *,
                 partitions: bool, log):
        self.cluster, self.history, self.monitor, self.rng = cluster, history, monitor, rng
        self.partitions = partitions
        self.log = log
        self.injected: list[dict] = []
        self.notes: list[str] = []

    # --- helpers -----------------------------------------------------------------------------------------------------

    def start(self, fault: str, nodes: list[int], detail: str) -> None:
        self.history.add("nemesis", "info", "start", value={"fault": fault, "nodes": nodes, "detail": detail})
        self.log(f"nemesis: {fault} {nodes} {detail}")
        self.injected.append({"fault": fault, "nodes": nodes, "detail": detail, "t": round(self.history.now(), 3)})

    def stop(self, fault: str, nodes: list[int], detail: str = "") -> None:
        self.history.add("nemesis", "info", "stop", value={"fault": fault, "nodes": nodes, "detail": detail})

    def leader(self) -> int:
        leader = self.cluster.healthy() or self.monitor.leader
        return leader if leader is not None else self.rng.choice(self.cluster.ids())

    def follower(self) -> int:
        leader = self.leader()
        return self.rng.choice([i for i in self.cluster.ids() if i != leader])

    def heal(self) -> bool:
        """Removes partitions, continues paused nodes, restarts dead ones; waits until the cluster is healthy."""
        c = self.cluster
        if c.topo:
            c.topo.heal()
        for i, n in c.nodes.items():
            if n.paused:
                c.signal(i, signal.SIGCONT)
            if not n.alive():
                c.start(i)
        if c.wait_healthy(HEAL_TIMEOUT):
            return True
        self.notes.append(f"t={self.history.now():.1f}s: cluster not healthy {HEAL_TIMEOUT:.0f}s after healing")
        self.log(self.notes[-1])
        return False

    # --- faults ------------------------------------------------------------------------------------------------------

    def run(self, fault: str, duration: float) -> None:
        getattr(self, fault)(duration)

    def kill_leader(self, duration: float) -> None:
        self._kill("kill", [self.leader()], "SIGKILL of the leader", duration)

    def kill_follower(self, duration: float) -> None:
        nodes = [self.follower()]
        if len(self.cluster.ids()) >= 5 and self.rng.random() < 0.5:  # a minority of two
            nodes.append(self.rng.choice([i for i in self.cluster.ids() if i not in nodes]))
        self._kill("kill", nodes, "SIGKILL of " + ("a minority" if len(nodes) > 1 else "a follower"), duration)

    def _kill(self, fault: str, nodes: list[int], detail: str, duration: float) -> None:
        self.start(fault, nodes, detail)
        for i in nodes:
            self.cluster.kill(i)
        time.sleep(duration)
        for i in nodes:
            self.cluster.start(i)
        self.stop(fault, nodes, "restarted on its data directory")

    def pause(self, duration: float) -> None:
        i = self.leader() if self.rng.random() < 0.5 else self.follower()
        role = "leader" if i == self.monitor.leader else "follower"
        self.start("pause", [i], f"SIGSTOP of the {role} for {duration:.1f}s")
        self.cluster.signal(i, signal.SIGSTOP)
        time.sleep(duration)
        self.cluster.signal(i, signal.SIGCONT)
        self.stop("pause", [i], "SIGCONT")

    def _partition(self, halves: list[list[int]], bridge: list[int], detail: str, duration: float) -> None:
        topo = self.cluster.topo
        nodes = sorted(sum(halves, []) + bridge)
        self.start("partition", nodes, f"{detail}: {' | '.join(map(str, halves))}" +
                   (f", bridge {bridge}" if bridge else ""))
        a, b = halves
        for x in a:
            for y in b:
                topo.block(x, y)
        time.sleep(duration)
        topo.heal()
        self.stop("partition", nodes, "healed")

    def partition_minority(self, duration: float) -> None:
        ids = self.cluster.ids()
        k = (len(ids) - 1) // 2
        minority = sorted(self.rng.sample(ids, k))
        self._partition([minority, [i for i in ids if i not in minority]], [], "majority/minority", duration)

    def partition_leader(self, duration: float) -> None:
        leader = self.leader()
        self._partition([[leader], [i for i in self.cluster.ids() if i != leader]], [], "isolated leader", duration)

    def partition_bridge(self, duration: float) -> None:
        ids = self.cluster.ids()[:]
        self.rng.shuffle(ids)
        bridge, rest = ids[0], ids[1:]
        half = len(rest) // 2
        self._partition([sorted(rest[:half]), sorted(rest[half:])], [bridge], "bridge", duration)

    def wipe(self, duration: float) -> None:
        c = self.cluster
        i = self.follower()
        others = [j for j in c.ids() if j != i]
        self.start("wipe", [i], "remove, wipe the data directory, --join, add")
        via = self.leader()
        via = via if via != i else others[0]
        code, body = c.admin(via, "DELETE", f"/cluster/members/{i}", timeout=30)
        if code != 200:
            self.notes.append(f"wipe of node {i}: DELETE /cluster/members/{i} via node {via} → {code} {body}")
            self.log(self.notes[-1])
        c.kill(i)
        c.wipe(i)
        time.sleep(min(duration, 3.0))
        c.start(i, join=True, peers=others)
        n = c.nodes[i]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and c.status(i) is None:
            time.sleep(0.2)
        added = (0, {})
        while time.monotonic() < deadline:
            via = c.healthy(others) or others[0]
            added = c.admin(via, "POST", "/cluster/members",
                            {"id": i, "raftAddress": f"{n.host}:{n.raft}", "busAddress": f"{n.host}:{n.bus}"},
                            timeout=30)
            if added[0] == 200:
                break
            time.sleep(1)
        if added[0] != 200:
            self.notes.append(f"wipe of node {i}: POST /cluster/members → {added}")
            self.log(self.notes[-1])
        self.stop("wipe", [i], f"removed ({code}), wiped, re-added ({added[0]})")

    def rolling_restart(self, duration: float) -> None:
        c = self.cluster
        ids = c.ids()
        self.start("rolling_restart", ids, "SIGTERM and restart of every node in turn")
        for i in ids:
            c.stop(i)
            c.start(i)
            if not c.wait_healthy(HEAL_TIMEOUT):
                self.notes.append(f"rolling restart: not healthy {HEAL_TIMEOUT:.0f}s after restarting node {i}")
                self.log(self.notes[-1])
        self.stop("rolling_restart", ids, "every node restarted")
