"""A stand-in for cluster/chaos/checker.py (the real checker of issue 8), used by the runner while checker.py is
absent: it validates the history's format (exit 1 on a malformed line), computes the run's statistics (operations
by f and type, faults, unavailability windows, failover times) and lists simple findings for a human to read —
acknowledged shadow versions seen twice, acknowledged things absent in the final reads, PUBACKed messages never
delivered to a subscriber whose session stayed. Findings do not fail the run: that is the real checker's job
(linearizability and the exceptions of ARCHITECTURE.md §7).

    python3 cluster/chaos/_checker_stub.py HISTORY.jsonl [--json OUT.json] [--markdown OUT.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict

TYPES = {"invoke", "ok", "fail", "info"}
FS = {"shadow_update", "shadow_get", "thing_create", "thing_describe", "thing_list", "publish", "sub_connect",
      "sub_disconnect", "deliver", "sub_final", "start", "stop", "leader"}
FAULTS = {"kill", "pause", "partition", "wipe", "rolling_restart"}


def validate(lines: list[dict]) -> list[str]:
    errors = []
    last_t = -1.0
    open_ops: dict[str, dict] = {}
    for n, e in enumerate(lines, 1):
        where = f"line {n}"
        for k in ("t", "process", "type", "f"):
            if k not in e:
                errors.append(f"{where}: missing {k!r}")
        if errors and errors[-1].startswith(where):
            continue
        if e["t"] < last_t:
            errors.append(f"{where}: t goes backwards ({e['t']} < {last_t})")
        last_t = e["t"]
        if e["type"] not in TYPES:
            errors.append(f"{where}: type {e['type']!r}")
        if e["f"] not in FS:
            errors.append(f"{where}: f {e['f']!r}")
        p = e["process"]
        if p == "nemesis":
            v = e.get("value", {})
            if e["f"] not in ("start", "stop") or v.get("fault") not in FAULTS or not isinstance(v.get("nodes"), list):
                errors.append(f"{where}: bad nemesis line")
            continue
        if p == "monitor" or e["f"] in ("deliver", "sub_disconnect", "sub_final"):
            continue
        if e["type"] == "invoke":
            if p in open_ops:
                errors.append(f"{where}: {p} invokes while an operation is in flight")
            if p in retired:
                errors.append(f"{where}: {p} used after an info")
            open_ops[p] = e
        else:
            inv = open_ops.pop(p, None)
            if inv is None or inv["f"] != e["f"]:
                errors.append(f"{where}: {p} completes {e['f']} without its invoke")
            if e["type"] == "info":
                retired.add(p)
    return errors


retired: set[str] = set()


def windows(lines: list[dict], f: str, gap: float = 2.0) -> list[dict]:
    """Stretches longer than `gap` seconds with no `ok` of `f` while some were invoked."""
    oks = [e["t"] for e in lines if e["f"] == f and e["type"] == "ok"]
    out = []
    for a, b in zip(oks, oks[1:]):
        if b - a > gap:
            out.append({"f": f, "from": a, "to": b, "seconds": round(b - a, 3)})
    return out


def failovers(lines: list[dict]) -> list[float]:
    """For each fault that took out the leader (killed, paused, wiped or isolated): seconds from the fault's start
    until the monitor observed a different leader."""
    leader = None
    pending: list[tuple[float, int]] = []
    out = []
    for e in lines:
        if e["process"] == "monitor" and e["f"] == "leader":
            leader = e["value"]["leader"]
            still = []
            for t0, old in pending:
                if leader is not None and leader != old:
                    out.append(round(e["t"] - t0, 3))
                else:
                    still.append((t0, old))
            pending = still
        elif e["process"] == "nemesis" and e["f"] == "start" and leader is not None:
            v = e["value"]
            if v["fault"] == "partition":
                hit = "isolated leader" in v.get("detail", "")
            else:
                hit = v["fault"] in ("kill", "pause", "wipe") and leader in v["nodes"]
            if hit:
                pending.append((e["t"], leader))
    return out


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def findings(lines: list[dict]) -> list[dict]:
    out = []
    seen: dict[tuple[str, int], dict] = {}
    for e in lines:
        if e["f"] == "shadow_update" and e["type"] == "ok":
            k = (e["key"], e["value"]["version"])
            if k in seen:
                out.append({"kind": "duplicate_version", "key": e["key"],
                            "explanation": f"two acknowledged updates of {e['key']} both got version {k[1]}",
                            "history": [seen[k], e]})
            seen[k] = e
    created = {e["key"]: e for e in lines if e["f"] == "thing_create" and e["type"] == "ok"}
    final_missing = [e for e in lines if e["f"] == "thing_describe" and e["type"] == "ok"
                     and e["process"].startswith("final") and e["value"].get("exists") is False and e["key"] in created]
    for e in final_missing:
        out.append({"kind": "lost_thing", "key": e["key"],
                    "explanation": "CreateThing was acknowledged, the final DescribeThing says it does not exist",
                    "history": [created[e["key"]], e]})
    acked = {e["value"]["msg"]: e for e in lines if e["f"] == "publish" and e["type"] == "ok"}
    by_client: dict[str, set] = defaultdict(set)
    lost_session: set[str] = set()
    first_ok: dict[str, float] = {}
    final: set[str] = set()
    filters: dict[str, str] = {}
    for e in lines:
        v = e.get("value", {})
        if e["f"] == "deliver":
            by_client[v["client_id"]].add(v["msg"])
        elif e["f"] == "sub_connect" and e["type"] == "invoke":
            filters[v["client_id"]] = v["filter"]
        elif e["f"] == "sub_connect" and e["type"] == "ok":
            if v["client_id"] in first_ok and not v["session_present"]:
                lost_session.add(v["client_id"])
            first_ok.setdefault(v["client_id"], e["t"])
        elif e["f"] == "sub_final":
            final.add(v["client_id"])
    for cid in sorted(final - lost_session):
        if filters.get(cid) != "chaos/#":
            continue
        missing = [m for m, e in acked.items() if e["t"] > first_ok[cid] and m not in by_client[cid]]
        if missing:
            out.append({"kind": "lost_message", "key": cid,
                        "explanation": f"{len(missing)} PUBACKed QoS 1 message(s) never delivered to {cid}: "
                                       f"{missing[:10]}", "history": [acked[m] for m in missing[:5]]})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("history")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    lines = [json.loads(x) for x in open(a.history) if x.strip()]
    errors = validate(lines)
    ops = Counter(f"{e['f']}:{e['type']}" for e in lines if e["process"] not in ("nemesis", "monitor"))
    faults = [e["value"] | {"t": e["t"]} for e in lines if e["process"] == "nemesis" and e["f"] == "start"]
    fo = failovers(lines)
    unavail = windows(lines, "shadow_update") + windows(lines, "publish")
    found = findings(lines)
    result = {"valid": not errors, "checker": "stub (format only; findings are informational)",
              "violations": [{"kind": "malformed", "key": None, "explanation": x, "history": []} for x in errors[:50]],
              "findings": found, "exceptions": {},
              "stats": {"ops": dict(sorted(ops.items())), "faults": faults, "unavailability": unavail,
                        "failover_s": {"n": len(fo), "p50": pct(fo, 0.5), "p99": pct(fo, 0.99),
                                       "max": max(fo) if fo else None}}}
    if a.json:
        open(a.json, "w").write(json.dumps(result, indent=1) + "\n")
    md = ["## Checker (stub: format and statistics only)", "",
          f"Format: {'valid' if not errors else f'{len(errors)} error(s)'}", "", "### Operations", "",
          "| f:type | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(ops.items())]
    s = result["stats"]["failover_s"]
    md += ["", f"### Failover (leader lost → new leader observed): n={s['n']} p50={s['p50']} p99={s['p99']} "
           f"max={s['max']} s", "", "### Unavailability (> 2 s without an ok)", ""]
    md += [f"- {w['f']}: {w['from']}–{w['to']} s ({w['seconds']} s)" for w in unavail] or ["- none"]
    md += ["", "### Findings (informational, for a human; the real checker decides)", ""]
    md += [f"- **{x['kind']}** {x['key']}: {x['explanation']}" for x in found] or ["- none"]
    md += [f"- malformed: {x}" for x in errors[:20]]
    if a.markdown:
        open(a.markdown, "w").write("\n".join(md) + "\n")
    print(f"stub checker: {len(lines)} lines, format {'valid' if not errors else 'INVALID'}, "
          f"{len(found)} finding(s)")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
