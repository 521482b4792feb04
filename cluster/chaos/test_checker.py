"""Tests of the chaos checker on hand-made and generated histories (fast, deterministic, no cluster needed).

Run: python3 -m pytest -q cluster/chaos/test_checker.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402
import linearizable  # noqa: E402
import history  # noqa: E402
from messages import topic_matches  # noqa: E402


class H:
    """A history builder: every line gets the next time stamp (10 ms apart)."""

    def __init__(self):
        self.lines = []
        self.t = 0.0

    def add(self, process, typ, f, key=None, value=None, node=1, t=None):
        self.t = self.t + 0.01 if t is None else t
        line = {"t": round(self.t, 3), "process": process, "type": typ, "f": f, "node": node, "value": value or {}}
        if key is not None:
            line["key"] = key
        self.lines.append(line)
        return self

    # shadow
    def upd(self, p, key, s, expected=None, node=1):
        return self.add(p, "invoke", "shadow_update", key, {"set": s, "token": f"tok-{s}", "expected_version": expected},
                        node)

    def upd_ok(self, p, key, version):
        return self.add(p, "ok", "shadow_update", key, {"version": version})

    def get(self, p, key):
        return self.add(p, "invoke", "shadow_get", key, {})

    def get_ok(self, p, key, version, s):
        return self.add(p, "ok", "shadow_get", key, {"version": version, "set": s})

    def end(self, p, typ, f, key):
        return self.add(p, typ, f, key, {})

    def nemesis(self, f, fault, nodes, t=None):
        return self.add("nemesis", "info", f, None, {"fault": fault, "nodes": nodes, "detail": "test"}, None, t)

    def check(self, **kw):
        return checker.check(self.lines, **kw)


def kinds(res):
    return sorted({v["kind"] for v in res.violations})


# ---- valid histories ----------------------------------------------------------------------------------------


def test_sequential_updates_and_gets_are_valid():
    h = H().get("a", "k").get_ok("a", "k", None, None)
    h.upd("a", "k", 1).upd_ok("a", "k", 1).get("a", "k").get_ok("a", "k", 1, 1)
    h.upd("a", "k", 2, expected=1).upd_ok("a", "k", 2).get("b", "k").get_ok("b", "k", 2, 2)
    res = h.check()
    assert res.valid, res.violations
    assert res.stats["ops"]["shadow_update"] == {"invoke": 2, "ok": 2, "fail": 0, "info": 0}


@pytest.mark.parametrize("first", ["a", "b"])
def test_concurrent_updates_in_either_order(first):
    h = H().upd("a", "k", 1).upd("b", "k", 2)
    # whichever was applied first got version 1; completions arrive in the other order
    if first == "a":
        h.upd_ok("b", "k", 2).upd_ok("a", "k", 1)
    else:
        h.upd_ok("b", "k", 1).upd_ok("a", "k", 2)
    last = 2 if first == "a" else 1
    h.get("c", "k").get_ok("c", "k", 2, last)
    res = h.check()
    assert res.valid, res.violations


def test_reads_during_concurrent_update_may_see_old_or_new():
    h = H().upd("a", "k", 1).upd_ok("a", "k", 1)
    h.upd("a", "k", 2).get("b", "k").get("c", "k").get_ok("b", "k", 2, 2).get_ok("c", "k", 1, 1)
    h.upd_ok("a", "k", 2)
    assert h.check().valid


def test_info_update_that_took_effect_later():
    h = H().upd("a", "k", 1).end("a", "info", "shadow_update", "k")  # timed out
    h.get("b", "k").get_ok("b", "k", None, None)  # not yet applied
    h.get("b", "k").get_ok("b", "k", 1, 1)  # now it is
    h.upd("c", "k", 2, expected=1).upd_ok("c", "k", 2)
    res = h.check()
    assert res.valid, res.violations


def test_info_update_that_never_happened_and_a_failed_one():
    h = H().upd("a", "k", 1).end("a", "info", "shadow_update", "k")
    h.upd("b", "k", 2, expected=5).end("b", "fail", "shadow_update", "k")  # 409
    h.upd("c", "k", 3).upd_ok("c", "k", 1).get("c", "k").get_ok("c", "k", 1, 3)
    res = h.check()
    assert res.valid, res.violations


def test_unseen_info_update_fills_a_version_gap():
    h = H().upd("a", "k", 1).upd_ok("a", "k", 1)
    h.upd("b", "k", 2).end("b", "info", "shadow_update", "k")
    h.upd("c", "k", 3).upd_ok("c", "k", 3)  # version 2 was the info update nobody read
    assert h.check().valid


def test_version_gap_without_a_possible_writer_is_rejected():
    h = H().upd("a", "k", 1).upd_ok("a", "k", 1).upd("c", "k", 3).upd_ok("c", "k", 3)
    assert kinds(h.check()) == ["not_linearizable"]


def test_a_failed_update_must_not_be_seen():
    h = H().upd("a", "k", 1).end("a", "fail", "shadow_update", "k").get("b", "k").get_ok("b", "k", 1, 1)
    assert "not_linearizable" in kinds(h.check())


# ---- rejected histories ---------------------------------------------------------------------------------------


def test_lost_write():
    h = H().upd("a", "k", 1).upd_ok("a", "k", 1)
    h.upd("a", "k", 2).upd_ok("a", "k", 2)
    for p in ("b", "c", "d"):
        h.get(p, "k").get_ok(p, "k", 1, 1)
    res = h.check()
    assert not res.valid
    assert "lost_write" in kinds(res) and "not_linearizable" in kinds(res)
    lost = next(v for v in res.violations if v["kind"] == "lost_write")
    assert lost["history"][0]["value"]["set"] == 2


def test_stale_read():
    h = H().upd("a", "k", 1).upd_ok("a", "k", 1).upd("a", "k", 2).upd_ok("a", "k", 2)
    h.get("b", "k").get_ok("b", "k", 1, 1)  # stale
    h.get("b", "k").get_ok("b", "k", 2, 2)  # then fine: not a lost write
    res = h.check()
    assert kinds(res) == ["not_linearizable", "stale_read"]
    stale = next(v for v in res.violations if v["kind"] == "stale_read")
    assert [l["type"] for l in stale["history"]] == ["invoke", "ok", "invoke", "ok"]
    nl = next(v for v in res.violations if v["kind"] == "not_linearizable")
    # shortest history: the update of version 2 and the stale get (nothing else is needed)
    assert len(nl["history"]) == 4, nl["history"]


def test_duplicated_version():
    h = H().upd("a", "k", 1).upd("b", "k", 2).upd_ok("a", "k", 1).upd_ok("b", "k", 1)
    res = h.check()
    assert "duplicate_version" in kinds(res) and "not_linearizable" in kinds(res)


def test_versions_going_backwards():
    h = H().upd("a", "k", 1).upd_ok("a", "k", 2).upd("a", "k", 2).upd_ok("a", "k", 1)
    assert "version_not_increasing" in kinds(h.check())


def test_witness_is_short_in_a_long_history():
    h = H()
    for s in range(1, 60):
        h.upd("a", "k", s).upd_ok("a", "k", s).get("b", "k").get_ok("b", "k", s, s)
    h.get("b", "k").get_ok("b", "k", 30, 30)  # stale, at the very end
    for s in range(60, 70):
        h.upd("a", "k", s).upd_ok("a", "k", s)
    res = h.check()
    nl = next(v for v in res.violations if v["kind"] == "not_linearizable")
    assert len(nl["history"]) <= 4, nl["history"]
    assert nl["history"][-1]["value"] == {"version": 30, "set": 30}


def test_lost_registry_write():
    h = H().add("a", "invoke", "thing_create", "t1").add("a", "ok", "thing_create", "t1")
    h.add("b", "invoke", "thing_describe", "t1").add("b", "ok", "thing_describe", "t1", {"exists": True})
    h.add("b", "invoke", "thing_list").add("b", "ok", "thing_list", None, {"names": ["t0"]})
    res = h.check()
    assert kinds(res) == ["lost_registry_write"]


# ---- messages -------------------------------------------------------------------------------------------------


def sub(h, cid, present, node=1, filt="chaos/t/#"):
    p = f"sub-{cid}-{len(h.lines)}"
    h.add(p, "invoke", "sub_connect", None, {"client_id": cid, "filter": filt}, node)
    return h.add(p, "ok", "sub_connect", None, {"session_present": present}, node)


def pub(h, msg, topic="chaos/t/1", typ="ok", node=2):
    p = f"pub-{msg}"
    h.add(p, "invoke", "publish", None, {"topic": topic, "msg": msg, "qos": 1}, node)
    return h.add(p, typ, "publish", None, {}, node)


def deliver(h, cid, msg, topic="chaos/t/1"):
    return h.add(f"sub-{cid}", "ok", "deliver", None, {"client_id": cid, "topic": topic, "msg": msg, "dup": False})


def final(h, cid):
    return h.add(f"sub-{cid}", "ok", "sub_final", None, {"client_id": cid})


def test_delivered_messages_are_valid_and_duplicates_counted():
    h = H()
    sub(h, "s1", False)
    pub(h, "m1")
    deliver(h, "s1", "m1")
    deliver(h, "s1", "m1")
    pub(h, "m2", typ="fail")  # PUBACK >= 0x80: not owed
    final(h, "s1")
    res = h.check()
    assert res.valid, res.violations
    assert res.stats["messages"]["duplicated"] == 1
    assert res.stats["messages"]["expected_deliveries"] == 1


def test_lost_puback_message_to_a_subscriber_that_stayed():
    h = H()
    sub(h, "s1", False)
    pub(h, "m1")
    h.t += 10
    deliver(h, "s1", "m0")  # something else
    final(h, "s1")
    res = h.check()
    assert kinds(res) == ["lost_message"]
    assert res.stats["messages"]["lost"] == 1
    assert res.violations[0]["history"][-1]["f"] == "sub_final"


def test_message_delivered_to_a_non_subscriber():
    h = H()
    sub(h, "s1", False, filt="chaos/other")
    pub(h, "m1")
    deliver(h, "s1", "m1")
    final(h, "s1")
    assert kinds(h.check()) == ["unauthorized_delivery"]


def test_lost_session_is_an_exception_not_a_violation():
    h = H()
    sub(h, "s1", False)
    pub(h, "m1")
    h.add("sub-s1", "info", "sub_disconnect", None, {"client_id": "s1"})
    sub(h, "s1", False, node=2)  # session_present=false: the session is gone
    pub(h, "m2")
    deliver(h, "s1", "m2")
    final(h, "s1")
    res = h.check()
    assert res.valid, res.violations
    assert res.exceptions["counts"] == {"session_lost": 1}


def test_message_lost_with_the_holder_node_is_an_exception():
    h = H()
    sub(h, "s1", False, node=1)
    h.t += 10
    pub(h, "m1")
    h.nemesis("start", "kill", [1])
    h.add("sub-s1", "info", "sub_disconnect", None, {"client_id": "s1"})
    h.t += 10
    sub(h, "s1", True, node=2)
    h.nemesis("stop", "kill", [1])
    h.t += 10
    final(h, "s1")
    res = h.check()
    assert res.valid, res.violations
    assert res.exceptions["counts"] == {"holder_failed": 1}


def test_a_fault_long_after_the_publish_does_not_excuse_a_connected_subscriber():
    h = H()
    sub(h, "s1", False, node=1)
    pub(h, "m1")  # the subscriber is connected: it should have had m1 within moments
    h.t += 30
    h.nemesis("start", "kill", [1])
    h.add("sub-s1", "info", "sub_disconnect", None, {"client_id": "s1"})
    h.t += 10
    sub(h, "s1", True, node=2)
    h.nemesis("stop", "kill", [1])
    final(h, "s1")
    assert kinds(h.check()) == ["lost_message"]


def test_a_parked_session_losing_its_holder_is_an_exception():
    h = H()
    sub(h, "s1", False, node=1)
    h.add("sub-s1", "info", "sub_disconnect", None, {"client_id": "s1"})
    h.t += 10
    pub(h, "m1")  # queued for the parked session on node 1
    h.t += 30
    h.nemesis("start", "kill", [1])
    h.t += 10
    sub(h, "s1", True, node=2)
    final(h, "s1")
    res = h.check()
    assert res.valid, res.violations
    assert res.exceptions["counts"] == {"holder_failed": 1}


def test_a_message_published_while_the_holder_is_paused_is_an_exception():
    # The long run found it: node 1 paused for 12.6 s, the others declared it dead and acknowledged publishes
    # for its subscribers, whose TCP connections survived the pause (no reconnect).
    h = H()
    sub(h, "s1", False, node=1)
    h.t += 10
    h.nemesis("start", "pause", [1])
    h.t += 6
    pub(h, "m1", node=3)
    h.t += 6
    h.nemesis("stop", "pause", [1])
    h.t += 10
    final(h, "s1")
    res = h.check()
    assert res.valid, res.violations
    assert res.exceptions["counts"] == {"holder_failed": 1}


def test_a_message_published_just_after_a_partition_heals_is_an_exception_within_the_grace_only():
    def run(after_heal_s):
        h = H()
        sub(h, "s1", False, node=1)
        h.t += 10
        h.nemesis("start", "partition", [1, 2, 3])
        h.t += 12
        h.nemesis("stop", "partition", [1, 2, 3])
        h.t += after_heal_s
        pub(h, "m1", node=2)
        h.t += 10
        final(h, "s1")
        return h.check(heal_grace_s=3.0)

    res = run(0.5)
    assert res.valid, res.violations
    assert res.exceptions["counts"] == {"partition_healing": 1}
    assert "after the partition" in res.exceptions["details"][0]["detail"]
    assert kinds(run(5.0)) == ["lost_message"]  # routes had time to come back: a real loss


def test_a_paused_node_publishing_itself_is_not_excused():
    # The pause excuses messages for the paused holder's subscribers only when published elsewhere.
    h = H()
    sub(h, "s1", False, node=1)
    h.t += 10
    h.nemesis("start", "pause", [2])
    pub(h, "m1", node=3)
    h.nemesis("stop", "pause", [2])
    h.t += 10
    final(h, "s1")
    assert kinds(h.check()) == ["lost_message"]


def test_topic_matching():
    assert topic_matches("a/+/c", "a/b/c") and topic_matches("a/#", "a") and topic_matches("#", "a/b")
    assert topic_matches("$share/g/a/+", "a/b")
    assert not topic_matches("a/+", "a/b/c") and not topic_matches("#", "$aws/x") and not topic_matches("a/b", "a")


# ---- stats and CLI ----------------------------------------------------------------------------------------------


def test_faults_failover_and_unavailability():
    h = H()
    h.upd("a", "k", 1, node=1).upd_ok("a", "k", 1)
    h.nemesis("start", "kill", [1], t=1.0)
    h.upd("a", "k", 2).end("a", "info", "shadow_update", "k")  # t 1.01 .. 1.02
    h.add("a2", "invoke", "shadow_update", "k", {"set": 3, "expected_version": None}, 2, t=1.5)
    h.add("a2", "ok", "shadow_update", "k", {"version": 3}, 2, t=3.0)  # version 2 = the info update
    h.nemesis("stop", "kill", [1], t=4.0)
    res = h.check()
    assert res.valid, res.violations
    st = res.stats
    assert st["faults"] == [{"fault": "kill", "nodes": [1], "detail": "test", "start_t": 1.0, "stop_t": 4.0,
                             "duration_s": 3.0}]
    assert st["failover_s"]["max"] == 2.0 and st["failover_s"]["p50"] == 2.0
    [w] = st["unavailability"]
    assert w["f"] == "shadow_update" and w["start_t"] == 1.01 and w["end_t"] == 3.0


def test_leader_replacement_after_faults_that_cut_the_leader_off():
    h = H()

    def leader(n, term, t):
        h.add("monitor", "info", "leader", None, {"leader": n, "term": term}, None, t)

    leader(1, 2, 1.0)
    h.nemesis("start", "kill", [1], t=10.0)
    leader(1, 2, 10.1)  # not yet noticed
    leader(2, 3, 11.3)
    h.nemesis("stop", "kill", [1], t=15.0)
    h.nemesis("start", "pause", [3], t=20.0)  # a follower: nothing to replace
    h.nemesis("stop", "pause", [3], t=25.0)
    h.add("nemesis", "info", "start", None, {"fault": "partition", "nodes": [1, 2, 3],
                                             "detail": "isolated leader: [2] | [1, 3]"}, None, 30.0)
    leader(3, 4, 31.8)
    h.add("nemesis", "info", "stop", None, {"fault": "partition", "nodes": [1, 2, 3],
                                            "detail": "isolated leader: [2] | [1, 3]"}, None, 35.0)
    h.add("nemesis", "info", "start", None, {"fault": "partition", "nodes": [1, 2, 3],
                                             "detail": "bridge: [1] | [2], bridge [3]"}, None, 40.0)  # leader bridges
    h.add("nemesis", "info", "stop", None, {"fault": "partition", "nodes": [1, 2, 3],
                                            "detail": "bridge: [1] | [2], bridge [3]"}, None, 45.0)
    lf = h.check().stats["leader_failover_s"]
    assert [(r["fault"], r["old_leader"], r["new_leader"], r["replaced_s"]) for r in lf["per_fault"]] == [
        ("kill", 1, 2, 1.3), ("partition", 2, 3, 1.8)]
    assert lf["max"] == 1.8 and lf["count"] == 2 and lf["not_replaced"] == 0


def test_cli_writes_json_and_markdown(tmp_path):
    h = H().upd("a", "k", 1).upd_ok("a", "k", 1).get("b", "k").get_ok("b", "k", 0, None)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(l) + "\n" for l in h.lines))
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    code = checker.main([str(path), "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 1
    d = json.loads(out_json.read_text())
    assert d["valid"] is False and {v["kind"] for v in d["violations"]} >= {"lost_write", "not_linearizable"}
    md = out_md.read_text()
    for section in ("## Operations", "## Faults injected", "## Failover", "## Unavailability windows",
                    "## Violations", "### lost_write"):
        assert section in md
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(l) + "\n" for l in h.lines[:2]))
    assert checker.main([str(good)]) == 0


# ---- generated histories ----------------------------------------------------------------------------------------


def simulate(seed, n_ops=300, keys=("k0", "k1"), procs=8, p_get=0.4, p_info=0.05):
    """A history of a real (linearizable) register per key with random concurrency: each op is applied at a random
    moment between its invoke and its completion; some end `info` (applied or not; an unapplied one may still be
    applied later, or never). Returns (lines, truth) where truth[key][version] = set."""
    rng = random.Random(seed)
    h = H()
    reg = {k: (0, None) for k in keys}
    truth = {k: {0: None} for k in keys}
    slots = [None] * procs
    names = [f"p{i}" for i in range(procs)]
    lost_ops = []  # info updates not applied yet
    next_set = 1
    invoked = 0

    def apply(op):
        k, v = op["key"], op["value"]
        ver, cur = reg[k]
        if op["f"] == "shadow_get":
            return ("ok", {"version": ver or None, "set": cur})
        if v["expected_version"] is not None and v["expected_version"] != ver:
            return ("fail", {})
        reg[k] = (ver + 1, v["set"])
        truth[k][ver + 1] = v["set"]
        return ("ok", {"version": ver + 1})

    while invoked < n_ops or any(slots):
        if lost_ops and rng.random() < 0.02:
            apply(lost_ops.pop(rng.randrange(len(lost_ops))))
        i = rng.randrange(procs)
        s = slots[i]
        if s is None:
            if invoked >= n_ops:
                continue
            k = rng.choice(keys)
            if rng.random() < p_get:
                op = {"f": "shadow_get", "key": k, "value": {}}
            else:
                ver = reg[k][0]
                exp = rng.choice([None, None, ver, ver, max(0, ver - 1)])
                op = {"f": "shadow_update", "key": k, "value": {"set": next_set, "token": f"t{next_set}",
                                                                  "expected_version": exp}}
                next_set += 1
            op["result"] = None
            slots[i] = op
            invoked += 1
            h.add(names[i], "invoke", op["f"], k, op["value"])
        elif s["result"] is None and rng.random() < 0.5:
            if rng.random() < p_info:
                h.add(names[i], "info", s["f"], s["key"], {})
                if s["f"] == "shadow_update":
                    lost_ops.append(s)
                slots[i] = None
                names[i] += "'"
            else:
                s["result"] = apply(s)
        elif s["result"] is not None:
            typ, val = s["result"]
            if typ == "ok" and rng.random() < p_info:
                h.add(names[i], "info", s["f"], s["key"], {})
                names[i] += "'"
            else:
                h.add(names[i], typ, s["f"], s["key"], val)
            slots[i] = None
    return h.lines, truth


SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_linearizable_histories_are_accepted(seed):
    lines, _ = simulate(seed)
    res = checker.check(lines)
    assert res.valid and not res.undecided, f"seed {seed}: {res.violations[:2]}"


def _pairs(lines):
    return history.load(lines).ops


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_histories_with_a_dropped_write_are_rejected(seed):
    lines, _ = simulate(seed)
    ops = _pairs(lines)
    seen = {(o.key, o.result.get("set")) for o in ops if o.f == "shadow_get" and o.ok and o.result.get("set")}
    victims = [o for o in ops if o.f == "shadow_update" and o.ok and (o.key, o.value["set"]) in seen]
    if not victims:
        pytest.skip(f"seed {seed}: no acknowledged update was read")
    victim = random.Random(seed).choice(victims)
    drop = {i for i, _ in victim.lines}
    res = checker.check([l for i, l in enumerate(lines) if i not in drop])
    assert not res.valid, f"seed {seed}: dropping the update at line {victim.inv_idx + 1} was not noticed"


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_histories_with_an_altered_read_are_rejected(seed):
    lines, truth = simulate(seed)
    ops = _pairs(lines)
    rng = random.Random(seed)
    gets = [o for o in ops if o.f == "shadow_get" and o.ok]
    # a value nobody wrote
    g = rng.choice(gets)
    bad = [dict(l) for l in lines]
    bad[g.cmp_idx] = dict(bad[g.cmp_idx], value={"version": g.result.get("version") or 1, "set": -1})
    assert not checker.check(bad).valid, f"seed {seed}: altered read at line {g.cmp_idx + 1} accepted"
    # a stale read: an older version than an update that completed before the get was invoked
    ups = [o for o in ops if o.f == "shadow_update" and o.ok]
    cands = [(g, u) for g in gets for u in ups if u.key == g.key and u.cmp_idx < g.inv_idx]
    if cands:
        g, u = rng.choice(cands)
        v = u.result["version"] - 1
        bad = [dict(l) for l in lines]
        bad[g.cmp_idx] = dict(bad[g.cmp_idx], value={"version": v or None, "set": truth[g.key][v]})
        res = checker.check(bad)
        assert not res.valid and "stale_read" in kinds(res), f"seed {seed}: stale read at line {g.cmp_idx + 1}"


def test_performance_2000_ops_5_keys_concurrency_8():
    lines, _ = simulate(12345, n_ops=2000, keys=tuple(f"k{i}" for i in range(5)), procs=8)
    start = time.monotonic()
    res = checker.check(lines)
    took = time.monotonic() - start
    assert res.valid and not res.undecided
    assert took < 10, f"{took:.1f}s"


@pytest.mark.parametrize("seed", range(3))
def test_many_unseen_info_updates_stay_cheap(seed):
    # few gets and many timeouts: lots of info updates nobody read, several filling version gaps
    lines, _ = simulate(seed, n_ops=2000, keys=tuple(f"k{i}" for i in range(5)), p_get=0.05, p_info=0.3)
    res = checker.check(lines)
    assert res.valid and not res.undecided, f"seed {seed}"
    assert max(v["steps"] for v in res.stats["linearizability"].values()) < 50_000, f"seed {seed}"


def test_search_gives_up_within_its_bound():
    lines, _ = simulate(7, n_ops=400)
    ops = [o for o in _pairs(lines) if o.key == "k0"]
    assert linearizable.check_strict(ops, max_steps=5).valid is None
