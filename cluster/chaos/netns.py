"""Network namespaces for the chaos runner (issue 8): one per node, one for the workload's clients, one "switch"
holding the bridge that joins them. Nothing is created or changed in the root namespace: every veth end is created
directly inside its namespace, and partitions are blackhole routes inside the nodes' namespaces.

Names: `flc-<runid>-sw` (bridge `br0`, veth ends `vI` / `vc`), `flc-<runid>-nI` (node I, `eth0` = 10.213.K.(10+I)),
`flc-<runid>-cl` (clients, `eth0` = 10.213.K.2). `cleanup()` removes every namespace whose name starts with `flc-`
(the processes still inside them — nodes this runner started — are SIGKILLed by pid first).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import threading

PREFIX = "flc-"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_lock = threading.Lock()


def run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def enter(name: str) -> None:
    """Moves the calling thread into namespace `name` (threads it starts afterwards are born there)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


def socket_in(name: str) -> socket.socket:
    """A TCP socket created inside namespace `name` (a socket stays in the namespace it was made in); the calling
    thread is moved back before this returns."""
    with _lock:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            enter(name)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                _setns(home)
        finally:
            os.close(home)


def available() -> tuple[bool, str]:
    """Whether we can make namespaces here (root and `ip netns add` working), with the reason when not."""
    if os.geteuid() != 0:
        return False, "not root"
    probe = f"{PREFIX}probe-{os.getpid()}"
    try:
        done = run_ip("netns", "add", probe, check=False)
        if done.returncode != 0:
            return False, f"ip netns add failed: {done.stderr.strip()}"
        return True, ""
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"ip not usable: {e}"
    finally:
        run_ip("netns", "del", probe, check=False)


class Topology:
    """The switch, node and client namespaces of one run."""

    def __init__(self, runid: str, nodes: list[int], subnet: int):
        self.prefix = f"{PREFIX}{runid}"
        self.subnet = subnet
        self.switch = f"{self.prefix}-sw"
        self.client = f"{self.prefix}-cl"
        self.node_ns = {i: f"{self.prefix}-n{i}" for i in nodes}
        self.blocked: set[tuple[int, int]] = set()  # (node, peer) blackhole routes in place

    def addr(self, i: int) -> str:
        return f"10.213.{self.subnet}.{10 + i}"

    @property
    def client_addr(self) -> str:
        return f"10.213.{self.subnet}.2"

    def create(self) -> None:
        run_ip("netns", "add", self.switch)
        run_ip("-n", self.switch, "link", "set", "lo", "up")
        run_ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        run_ip("-n", self.switch, "link", "set", "br0", "up")
        for ns, end, addr in [(self.client, "vc", self.client_addr)] + \
                [(ns, f"v{i}", self.addr(i)) for i, ns in self.node_ns.items()]:
            run_ip("netns", "add", ns)
            run_ip("-n", ns, "link", "set", "lo", "up")
            run_ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", end, "netns", self.switch)
            run_ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            run_ip("-n", ns, "link", "set", "eth0", "up")
            run_ip("-n", self.switch, "link", "set", end, "master", "br0")
            run_ip("-n", self.switch, "link", "set", end, "up")

    def block(self, a: int, b: int) -> None:
        """Drops traffic between nodes a and b, both ways (a blackhole route in each one's namespace)."""
        for x, y in ((a, b), (b, a)):
            if (x, y) not in self.blocked:
                run_ip("-n", self.node_ns[x], "route", "add", "blackhole", f"{self.addr(y)}/32")
                self.blocked.add((x, y))

    def heal(self) -> None:
        for x, y in sorted(self.blocked):
            run_ip("-n", self.node_ns[x], "route", "del", "blackhole", f"{self.addr(y)}/32", check=False)
        self.blocked.clear()

    def destroy(self) -> None:
        cleanup(self.prefix)


def cleanup(prefix: str = PREFIX) -> list[str]:
    """Removes the namespaces named `prefix…` and SIGKILLs the processes left in them (by pid). Returns the names."""
    done = run_ip("netns", "list", check=False)
    names = [line.split()[0] for line in done.stdout.splitlines() if line.startswith(prefix)]
    for name in names:
        pids = run_ip("netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            if int(pid) == os.getpid():  # the runner itself lives in its client namespace
                continue
            try:
                os.kill(int(pid), signal.SIGCONT)
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    for name in names:
        run_ip("netns", "del", name, check=False)
    return names
