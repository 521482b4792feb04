#!/usr/bin/env python3
"""The chaos checker (issue 8): checks a run's history against what ARCHITECTURE.md §7 promises.

    python3 cluster/chaos/checker.py HISTORY.jsonl [--json OUT.json] [--markdown OUT.md]

Exit status: 0 no violation, 1 at least one violation, 2 no violation found but some key's linearizability search
gave up (its step bound was reached: the key is listed under "undecided"), 3 the history could not be read.
As a library (standard library only): `check(lines) -> Result`, where `lines` are JSON text lines or dicts;
`Result.valid`, `Result.violations`, `Result.to_json()`, `report.markdown(result)`.

Checks (ops/design-notes.md, "Chaos checker (issue 8)"): each shadow is a linearizable versioned register
(linearizable.py); per key, no two acknowledged updates name the same version, versions of acknowledged updates
grow in real-time order, no get returns an older version than an operation that completed before it was invoked
(a stale read), and an acknowledged update is seen (or superseded) by the gets that follow it (else a lost write);
an acknowledged CreateThing is visible to the registry reads that follow it; QoS 1 delivery and authorization
(messages.py).
"""

from __future__ import annotations

import argparse
import bisect
import os
import sys
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import history as _history  # noqa: E402
import linearizable  # noqa: E402
import messages as _messages  # noqa: E402
import report  # noqa: E402

MAX_PER_KIND_AND_KEY = 5  # violations of one kind on one key listed in full; the rest only counted


@dataclass
class Result:
    valid: bool
    violations: list
    exceptions: dict
    stats: dict
    undecided: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"valid": self.valid, "violations": self.violations, "exceptions": self.exceptions,
                "stats": self.stats, "undecided": self.undecided, "warnings": self.warnings}


def _lines(ops):
    return _history.op_lines(ops)


def _v(op):
    v = op.result.get("version")
    return 0 if v is None else v


def _latest_before(targets, done, version):
    """For each target op: the op of `done` with the highest version among those completed before it was invoked."""
    done = sorted(done, key=lambda o: o.cmp_idx)
    ends = [o.cmp_idx for o in done]
    best, prefix = None, []
    for o in done:
        if best is None or version(o) > version(best):
            best = o
        prefix.append(best)
    for t in targets:
        i = bisect.bisect_left(ends, t.inv_idx)
        if i > 0:
            yield t, prefix[i - 1]


def register_checks(key, ops):
    """The direct per-key checks on acknowledged shadow operations (each with a two- or three-op history)."""
    out = []
    ups = [o for o in ops if o.f == "shadow_update" and o.ok and isinstance(o.result.get("version"), int)]
    gets = [o for o in ops if o.f == "shadow_get" and o.ok]
    by_version: dict = {}
    for u in ups:
        by_version.setdefault(u.result["version"], []).append(u)
    for v, us in sorted(by_version.items()):
        if len(us) > 1:
            out.append({"kind": "duplicate_version", "key": key,
                        "explanation": f"{len(us)} acknowledged updates name version {v} (sets "
                                       f"{[u.value.get('set') for u in us]})", "history": _lines(us[:2])})
    for g in gets:
        v, s = _v(g), g.result.get("set")
        for u in by_version.get(v, []):
            if s is not None and u.value.get("set") != s:
                out.append({"kind": "duplicate_version", "key": key,
                            "explanation": f"the acknowledged update of version {v} wrote set={u.value.get('set')}"
                                           f", a get read set={s} at version {v}", "history": _lines([u, g])})
    # A get names a set that no update which did not fail wrote.
    writers = {}
    for o in ops:
        if o.f == "shadow_update":
            writers.setdefault(o.value.get("set"), []).append(o)
    for g in gets:
        s = g.result.get("set")
        if s is not None and not any(w.type != "fail" for w in writers.get(s, [])):
            failed = writers.get(s, [])
            out.append({"kind": "unwritten_value", "key": key,
                        "explanation": f"a get read set={s} at version {_v(g)}, which no update wrote"
                                       + (" (the only update with that set failed)" if failed else ""),
                        "history": _lines(failed[:1] + [g])})
    # Versions of acknowledged updates grow in real-time order.
    for b, a in _latest_before(ups, ups, lambda o: o.result["version"]):
        if a.result["version"] >= b.result["version"]:
            out.append({"kind": "version_not_increasing", "key": key,
                        "explanation": f"update set={b.value.get('set')} was invoked after update "
                                       f"set={a.value.get('set')} completed with version {a.result['version']}, "
                                       f"yet got version {b.result['version']}", "history": _lines([a, b])})
    # Lost writes: an acknowledged update that none of the gets after it sees (nor a later version).
    lost = set()
    gets_by_inv = sorted(gets, key=lambda o: o.inv_idx)
    invs = [g.inv_idx for g in gets_by_inv]
    suffix_max = [0] * (len(gets_by_inv) + 1)
    for i in range(len(gets_by_inv) - 1, -1, -1):
        suffix_max[i] = max(suffix_max[i + 1], _v(gets_by_inv[i]))
    for u in ups:
        i = bisect.bisect_right(invs, u.cmp_idx)
        if i < len(gets_by_inv) and suffix_max[i] < u.result["version"]:
            lost.add(u.id)
            last = gets_by_inv[-1]
            out.append({"kind": "lost_write", "key": key,
                        "explanation": f"update set={u.value.get('set')} was acknowledged with version "
                                       f"{u.result['version']}; the {len(gets_by_inv) - i} get(s) after it all read "
                                       f"older versions (the last one read {_v(last)})", "history": _lines([u, last])})
    # Stale reads: a get invoked after an acknowledged op completed returns an older version.
    for g, best in _latest_before(gets, ups + gets, _v):
        if _v(best) > _v(g) and best.id not in lost:
            out.append({"kind": "stale_read", "key": key,
                        "explanation": f"a get invoked after {best.f} (version {_v(best)}) completed read version "
                                       f"{_v(g)}", "history": _lines([best, g])})
    return out


def registry_checks(hist):
    out = []
    creates = [o for o in hist.ops if o.f == "thing_create" and o.ok]
    deletes = [o for o in hist.ops if o.f == "thing_delete"]
    reads = [o for o in hist.ops if o.f in ("thing_describe", "thing_list") and o.ok]
    for c in creates:
        name = c.key
        for r in reads:
            if r.inv_idx < c.cmp_idx:
                continue
            if any(d.key == name and d.inv_idx < r.cmp_idx for d in deletes):
                continue
            if r.f == "thing_describe":
                missing = r.key == name and r.result.get("exists") is False
            else:
                names = r.result.get("names")
                missing = isinstance(names, list) and name not in names
            if missing:
                out.append({"kind": "lost_registry_write", "key": name,
                            "explanation": f"CreateThing {name} was acknowledged (line {c.cmp_idx + 1}); a later "
                                           f"{r.f} (line {r.cmp_idx + 1}) does not show it",
                            "history": _lines([c, r])})
                break
    return out


def _cap(violations):
    seen: dict = {}
    kept, dropped = [], {}
    for v in violations:
        k = (v["kind"], str(v["key"]))
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= MAX_PER_KIND_AND_KEY:
            kept.append(v)
        else:
            dropped[f"{v['kind']}:{v['key']}"] = seen[k] - MAX_PER_KIND_AND_KEY
    return kept, dropped


def check(lines, *, max_steps=2_000_000, witness_budget_s=3.0, move_grace_s=3.0, heal_grace_s=3.0,
          min_window_s=1.0) -> Result:
    hist = _history.load(lines)
    violations: list = []
    undecided: list = []
    by_key: dict = {}
    for op in hist.ops:
        if op.f in ("shadow_update", "shadow_get"):
            by_key.setdefault(op.key, []).append(op)
    lin_stats = {}
    for key in sorted(by_key, key=str):
        ops = by_key[key]
        violations += register_checks(key, ops)
        res = linearizable.check_strict(ops, max_steps=max_steps)
        lin_stats[str(key)] = {"ops": len(ops), "steps": res.steps, "valid": res.valid}
        if res.valid is None:
            undecided.append(key)
        elif res.valid is False:
            wit, cut, model = linearizable.shortest_witness(ops, time_budget_s=witness_budget_s)
            blocked = res.blocked.op if res.blocked is not None else None
            where = (f"; the search got furthest with {res.deepest} operations placed, state (version, set) = "
                     f"{tuple(res.state_at_deepest)}, and could not place {blocked.f} by {blocked.process} "
                     f"(lines {', '.join(str(i + 1) for i, _ in blocked.lines)})") if blocked else ""
            violations.append({
                "kind": "not_linearizable", "key": key,
                "explanation": f"no order of the shadow operations on {key} is consistent with the register model "
                               f"and with real time{where}. The history below ({len(wit)} operations) fails on its "
                               f"own" + (", whatever the operations left out did" if model == "phantom" else
                                         " (only gets were left out)"),
                "history": _history.op_lines(wit, cut=cut)})
    violations += registry_checks(hist)
    faults = report.pair_faults(hist)
    mviol, mexc, mstats = _messages.check_messages(hist, faults, move_grace_s=move_grace_s, heal_grace_s=heal_grace_s)
    violations += mviol
    violations, more = _cap(violations)
    counts: dict = {}
    for e in mexc:
        counts[e["reason"]] = counts.get(e["reason"], 0) + 1
    stats = {"ops": report.ops_by_f(hist), "faults": faults,
             "unavailability": report.unavailability(hist, min_window_s=min_window_s),
             "failover_s": report.failover(hist, faults), "leader_failover_s": report.leader_failover(hist, faults),
             "messages": mstats, "linearizability": lin_stats,
             "violations_not_listed": more,
             "leader_observations": sum(1 for e in hist.events if e.process == "monitor" and e.f == "leader")}
    stats["failover_by_fault"] = report.failover_by_fault(stats["failover_s"])
    return Result(valid=not violations, violations=violations, exceptions={"counts": counts, "details": mexc},
                  stats=stats, undecided=undecided, warnings=hist.warnings)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("history", help="history.jsonl written by the runner")
    ap.add_argument("--json", metavar="OUT", help="write the JSON result here")
    ap.add_argument("--markdown", metavar="OUT", help="write the markdown report here")
    ap.add_argument("--title", default=None, help="markdown title (default: the history's file name)")
    ap.add_argument("--max-steps", type=int, default=2_000_000, help="search bound per key")
    ap.add_argument("--move-grace", type=float, default=3.0,
                    help="seconds around a subscriber reconnect in which a lost message counts as session_moving")
    ap.add_argument("--heal-grace", type=float, default=3.0,
                    help="seconds after a partition heals in which a message published across it counts as "
                         "partition_healing (routes converging)")
    ap.add_argument("--min-window", type=float, default=1.0, help="shortest unavailability window reported (s)")
    args = ap.parse_args(argv)
    try:
        with open(args.history, encoding="utf-8") as fh:
            res = check(fh, max_steps=args.max_steps, move_grace_s=args.move_grace, heal_grace_s=args.heal_grace,
                        min_window_s=args.min_window)
    except (OSError, ValueError) as e:
        print(f"checker: {e}", file=sys.stderr)
        return 3
    if args.json:
        import json
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res.to_json(), fh, indent=1, sort_keys=True, default=str)
            fh.write("\n")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(report.markdown(res, title=args.title or f"Chaos run: {os.path.basename(args.history)}"))
    ops = sum(r.get("invoke", 0) for r in res.stats["ops"].values())
    print(f"checker: {'valid' if res.valid else 'INVALID'}: {ops} operations, {len(res.stats['faults'])} faults, "
          f"{len(res.violations)} violation(s) listed"
          + (f", undecided keys {res.undecided}" if res.undecided else "")
          + "".join(f"\n  {v['kind']} {v['key']}: {v['explanation']}" for v in res.violations[:20]))
    if not res.valid:
        return 1
    return 2 if res.undecided else 0


if __name__ == "__main__":
    sys.exit(main())
