"""Run statistics (operations, faults, unavailability windows, failover times) and the markdown report."""

from __future__ import annotations

import bisect
import json
import math
import re

WRITES = ("shadow_update", "thing_create")
FAILOVER_FAULTS = ("kill", "pause", "partition")


def ops_by_f(hist):
    out: dict = {}
    for op in hist.ops:
        row = out.setdefault(op.f, {"invoke": 0, "ok": 0, "fail": 0, "info": 0})
        row["invoke"] += 1
        row[op.type] += 1
    for ev in hist.events:
        if ev.process in ("nemesis", "monitor"):
            continue
        row = out.setdefault(ev.f, {"invoke": 0, "ok": 0, "fail": 0, "info": 0})
        row[ev.type] = row.get(ev.type, 0) + 1
    return dict(sorted(out.items()))


def pair_faults(hist):
    """Nemesis start/stop lines paired by (fault, nodes), first in first out; a start never stopped has stop None."""
    faults, open_ = [], {}
    for ev in hist.events:
        if ev.process != "nemesis" or ev.f not in ("start", "stop"):
            continue
        fault = ev.value.get("fault", "?")
        nodes = sorted(ev.value.get("nodes") or [])
        k = (fault, tuple(nodes))
        if ev.f == "start":
            rec = {"fault": fault, "nodes": nodes, "detail": ev.value.get("detail", ""), "start_t": ev.t,
                   "stop_t": None, "duration_s": None}
            faults.append(rec)
            open_.setdefault(k, []).append(rec)
        else:
            waiting = open_.get(k) or next((v for (f, _), v in open_.items() if f == fault and v), None)
            if waiting:
                rec = waiting.pop(0)
                rec["stop_t"] = ev.t
                rec["duration_s"] = round(ev.t - rec["start_t"], 3)
    return faults


def unavailability(hist, min_window_s=1.0):
    """Per kind of operation, spans of at least `min_window_s` where none succeeded while one was in flight: from
    the later of the last success and the first attempt in flight, to the next success (or, after the last success,
    the end of the last attempt)."""
    end = hist.end_t
    out = []
    for f in sorted({op.f for op in hist.ops}):
        ops = [op for op in hist.ops if op.f == f]
        oks = sorted(op.cmp_t for op in ops if op.ok)
        spans = sorted((op.inv_t, op.cmp_t if op.cmp_t is not None else end) for op in ops)
        invs = [s[0] for s in spans]
        bounds = [-math.inf] + oks + [math.inf]
        for a, b in zip(bounds, bounds[1:]):
            if min(b, end) - a < min_window_s:
                continue  # too short to matter (a window lies inside its gap between successes)
            active = [s for s in spans[:bisect.bisect_left(invs, b)] if s[1] > a]
            if not active:
                continue
            start = max(a, min(s[0] for s in active))
            stop = min(b, end, max(s[1] for s in active))  # attempts over: nothing was being refused
            if stop - start >= min_window_s:
                out.append({"f": f, "start_t": round(start, 3), "end_t": round(stop, 3),
                            "duration_s": round(stop - start, 3), "ended_by_success": b != math.inf,
                            "attempts": len(active)})
    return out


def percentile(values, p):
    """Nearest rank."""
    if not values:
        return None
    xs = sorted(values)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def failover(hist, faults):
    """Per kill/pause/partition start: time to the completion of the first ok write invoked at or after it."""
    writes = sorted((op.inv_t, op.cmp_t) for op in hist.ops if op.f in WRITES and op.ok)
    rows = []
    for fl in faults:
        if fl["fault"] not in FAILOVER_FAULTS:
            continue
        after = [c - fl["start_t"] for i, c in writes if i >= fl["start_t"]]
        rows.append({"fault": fl["fault"], "nodes": fl["nodes"], "start_t": fl["start_t"],
                     "first_write_s": round(min(after), 3) if after else None})
    vals = [r["first_write_s"] for r in rows if r["first_write_s"] is not None]
    return {"p50": percentile(vals, 50), "p99": percentile(vals, 99), "max": max(vals) if vals else None,
            "count": len(vals), "without_write": len(rows) - len(vals), "per_fault": rows}


def _partition_sides(detail):
    """'isolated leader: [3] | [1, 2]', 'majority/minority: [1] | [2, 3]', 'bridge: [1] | [3], bridge [2]' →
    (sides, bridge)."""
    groups = [[int(x) for x in re.findall(r"\d+", g)] for g in re.findall(r"\[([^\]]*)\]", detail or "")]
    if "bridge [" in (detail or "") and len(groups) >= 3:
        return groups[:2], groups[2]
    return groups[:2], []


def leader_cut_off(fault, leader):
    """Whether `fault` takes `leader` away from a majority (so another node must take over). A partition lists every
    node in `nodes` and its sides in `detail`."""
    if fault["fault"] in ("kill", "pause"):
        return leader in (fault["nodes"] or [])
    if fault["fault"] != "partition":
        return False
    sides, bridge = _partition_sides(fault.get("detail"))
    if leader in bridge:
        return False
    side = next((s for s in sides if leader in s), None)
    return side is not None and len(side) + len(bridge) <= len(fault["nodes"] or []) // 2


def leader_failover(hist, faults):
    """Per kill, pause or partition that cut the leader off from a majority: time from the fault's start to the
    first monitor observation (every 200 ms) of another leader at a higher term — ARCHITECTURE §7's "a failed leader
    is replaced". Leaders as the runner's monitor saw them (`leader` lines)."""
    seen = sorted((e.t, e.value.get("leader"), e.value.get("term") or 0) for e in hist.events
                  if e.process == "monitor" and e.f == "leader" and e.value.get("leader") is not None)
    rows = []
    for fl in faults:
        before = [x for x in seen if x[0] <= fl["start_t"]]
        if not before or fl["fault"] not in FAILOVER_FAULTS:
            continue
        _, leader, term = before[-1]
        if not leader_cut_off(fl, leader):
            continue
        new = next((x for x in seen if x[0] > fl["start_t"] and x[1] != leader and x[2] > term), None)
        rows.append({"fault": fl["fault"], "detail": fl["detail"], "start_t": fl["start_t"], "old_leader": leader,
                     "new_leader": new[1] if new else None,
                     "replaced_s": round(new[0] - fl["start_t"], 3) if new else None})
    vals = [r["replaced_s"] for r in rows if r["replaced_s"] is not None]
    return {"p50": percentile(vals, 50), "p99": percentile(vals, 99), "max": max(vals) if vals else None,
            "count": len(vals), "not_replaced": len(rows) - len(vals), "per_fault": rows}


def failover_by_fault(fo):
    """The write failover figures split by kind of fault."""
    kinds = {}
    for r in fo["per_fault"]:
        if r["first_write_s"] is not None:
            kinds.setdefault(r["fault"], []).append(r["first_write_s"])
    return {k: {"p50": percentile(v, 50), "max": max(v), "count": len(v)} for k, v in sorted(kinds.items())}


def _md_history(lines):
    return "```\n" + "\n".join(json.dumps(l, sort_keys=True) for l in lines) + "\n```"


def markdown(result, title="Chaos run") -> str:
    d = result.to_json()
    st = d["stats"]
    out = [f"# {title}", "", f"**Verdict: {'valid' if d['valid'] else 'INVALID'}** — "
           f"{len(d['violations'])} violation(s), {sum(d['exceptions']['counts'].values())} §7 exception(s)"
           + (f", undecided keys: {', '.join(map(str, d['undecided']))}" if d["undecided"] else ""), ""]
    out += ["## Operations", "", "| f | invoke | ok | fail | info |", "|---|---:|---:|---:|---:|"]
    for f, r in st["ops"].items():
        out.append(f"| {f} | {r.get('invoke', 0)} | {r.get('ok', 0)} | {r.get('fail', 0)} | {r.get('info', 0)} |")
    out += ["", "## Faults injected", ""]
    if st["faults"]:
        out += ["| fault | nodes | start (s) | duration (s) | detail |", "|---|---|---:|---:|---|"]
        for fl in st["faults"]:
            dur = "—" if fl["duration_s"] is None else fl["duration_s"]
            out.append(f"| {fl['fault']} | {fl['nodes']} | {fl['start_t']:.3f} | {dur} | {fl['detail']} |")
        counts = {}
        for fl in st["faults"]:
            counts[fl["fault"]] = counts.get(fl["fault"], 0) + 1
        out += ["", "By type: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
    else:
        out.append("None.")
    fo = st["failover_s"]
    fmt = lambda x: "—" if x is None else f"{x:.3f}"
    out += ["", "## Failover (fault start → first acknowledged write invoked after it)", "",
            f"p50 {fmt(fo['p50'])} s, p99 {fmt(fo['p99'])} s, max {fmt(fo['max'])} s over {fo['count']} fault(s)"
            + (f"; {fo['without_write']} fault(s) with no acknowledged write after them" if fo["without_write"] else "")]
    by = st.get("failover_by_fault") or {}
    if by:
        out += ["", "By fault: " + "; ".join(f"{k} p50 {fmt(v['p50'])} s, max {fmt(v['max'])} s ({v['count']})"
                                             for k, v in by.items())]
    lf = st.get("leader_failover_s")
    if lf is not None:
        out += ["", "## Leader replaced (fault that cut the leader off → another leader seen, 200 ms polls)", "",
                f"p50 {fmt(lf['p50'])} s, p99 {fmt(lf['p99'])} s, max {fmt(lf['max'])} s over {lf['count']} fault(s)"
                + (f"; {lf['not_replaced']} fault(s) where no other leader was seen" if lf["not_replaced"] else "")]
    out += ["", "## Unavailability windows", ""]
    if st["unavailability"]:
        out += ["| f | from (s) | to (s) | duration (s) | attempts |", "|---|---:|---:|---:|---:|"]
        for w in st["unavailability"]:
            out.append(f"| {w['f']} | {w['start_t']} | {w['end_t']}{'' if w['ended_by_success'] else ' (end)'} | "
                       f"{w['duration_s']} | {w['attempts']} |")
    else:
        out.append("None.")
    m = st["messages"]
    out += ["", "## Messages", "",
            f"{m['expected_deliveries']} expected (subscriber, message) deliveries, {m['lost']} missing "
            f"({m['lost'] - sum(d['exceptions']['counts'].values())} violations, the rest §7 exceptions), "
            f"{m['duplicated']} duplicate deliveries, {m['subscribers']} subscribers."]
    out += ["", "## §7 exceptions (counted, not violations)", ""]
    if d["exceptions"]["counts"]:
        for k, v in sorted(d["exceptions"]["counts"].items()):
            out.append(f"- {k}: {v}")
        for e in d["exceptions"]["details"][:20]:
            out.append(f"  - {e['client_id']} / {e['msg']} ({e['reason']}): {e['detail']}")
    else:
        out.append("None.")
    out += ["", "## Violations", ""]
    if not d["violations"]:
        out.append("None.")
    for v in d["violations"]:
        out += [f"### {v['kind']} — {v['key']}", "", v["explanation"], "", _md_history(v["history"]), ""]
    if d["warnings"]:
        out += ["", "## History warnings", ""] + [f"- {w}" for w in d["warnings"][:50]]
    return "\n".join(out) + "\n"
