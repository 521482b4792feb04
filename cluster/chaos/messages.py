"""QoS 1 delivery checks: every PUBACKed publish reaches each persistent subscriber that stayed subscribed, and no
client gets a message for a topic it did not subscribe to. The §7 windows where a message may be lost
(ops/design-notes.md, "Sessions across nodes" and "Cross-node routing") are counted as exceptions with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field


def topic_matches(filt: str, topic: str) -> bool:
    """MQTT filter matching (`+`, `#`, `$share/<group>/` stripped, `$` topics not matched by a leading wildcard)."""
    if filt.startswith("$share/"):
        parts = filt.split("/", 2)
        filt = parts[2] if len(parts) == 3 else ""
    fl = filt.split("/")
    tl = topic.split("/")
    if topic.startswith("$") and fl and fl[0] in ("+", "#"):
        return False
    for i, f in enumerate(fl):
        if f == "#":
            return True
        if i >= len(tl):
            return False
        if f != "+" and f != tl[i]:
            return False
    return len(fl) == len(tl)


@dataclass
class Subscriber:
    client_id: str
    filters: set = field(default_factory=set)
    connects: list = field(default_factory=list)  # [(cmp_idx, cmp_t, session_present, node, op)]
    attempts: list = field(default_factory=list)  # [(inv_idx, inv_t)] every sub_connect invoke
    disconnects: list = field(default_factory=list)  # [(idx, t)]
    final: tuple | None = None  # (idx, t)
    delivered: dict = field(default_factory=dict)  # msg -> [(idx, topic, event)]


def _subscribers(hist):
    subs: dict = {}

    def get(cid):
        if cid not in subs:
            subs[cid] = Subscriber(cid)
        return subs[cid]

    for op in hist.ops:
        if op.f != "sub_connect":
            continue
        cid = op.value.get("client_id")
        if cid is None:
            continue
        s = get(cid)
        if op.value.get("filter") is not None:
            s.filters.add(op.value["filter"])
        s.attempts.append((op.inv_idx, op.inv_t))
        if op.ok:
            s.connects.append((op.cmp_idx, op.cmp_t, bool(op.result.get("session_present")), op.node, op))
    for ev in hist.events:
        cid = ev.value.get("client_id")
        if cid is None:
            continue
        if ev.f == "sub_disconnect":
            get(cid).disconnects.append((ev.idx, ev.t))
        elif ev.f == "sub_final":
            s = get(cid)
            s.final = (ev.idx, ev.t)
        elif ev.f == "deliver":
            get(cid).delivered.setdefault(ev.value.get("msg"), []).append((ev.idx, ev.value.get("topic"), ev))
    return subs


def _fault_hits(faults, node, t0, t1):
    """The first fault touching `node` that is active at some time in [t0, t1]."""
    for f in faults:
        stop = f["stop_t"] if f["stop_t"] is not None else float("inf")
        if f["start_t"] <= t1 and stop >= t0 and (not f["nodes"] or node is None or node in f["nodes"]):
            return f
    return None


def _healed_before(faults, holder, t, grace_s):
    """A partition touching `holder` that healed at most `grace_s` before `t` (the caller checks the publish went to
    another node): until
    membership and routes have converged again (a member back from dead is pulled at once, ~2 gossip periods in the
    simulations), the publishing node still holds the holder dead and routes nothing to it."""
    for f in faults:
        if f["fault"] != "partition" or f["stop_t"] is None:
            continue
        if f["stop_t"] <= t <= f["stop_t"] + grace_s and (not f["nodes"] or holder in f["nodes"]):
            return f
    return None


def check_messages(hist, faults, move_grace_s=3.0, heal_grace_s=3.0):
    """Returns (violations, exceptions, stats). `faults` as made by report.pair_faults."""
    subs = _subscribers(hist)
    pubs = {}
    for op in hist.ops:
        if op.f == "publish" and op.value.get("msg") is not None:
            pubs[op.value["msg"]] = op
    violations, exceptions = [], []
    lost = 0
    expected = 0
    duplicates = 0
    unknown = 0
    for cid, s in sorted(subs.items()):
        # Deliveries: duplicates, topics the client never subscribed to, topics not the publish's.
        for msg, dl in s.delivered.items():
            duplicates += len(dl) - 1
            for idx, topic, ev in dl:
                if topic is None or not any(topic_matches(f, topic) for f in s.filters):
                    violations.append({
                        "kind": "unauthorized_delivery", "key": cid,
                        "explanation": f"{cid} got {msg!r} on topic {topic!r}, which matches none of its filters "
                                       f"{sorted(s.filters)}",
                        "history": ([l for _, l in s.connects[0][4].lines] if s.connects else []) + [ev.raw]})
            pub = pubs.get(msg)
            if pub is None:
                unknown += 1
            elif dl and dl[0][1] is not None and pub.value.get("topic") != dl[0][1]:
                violations.append({
                    "kind": "wrong_topic", "key": cid,
                    "explanation": f"{cid} got {msg!r} on {dl[0][1]!r}, published on {pub.value.get('topic')!r}",
                    "history": [l for _, l in pub.lines] + [dl[0][2].raw]})
        if not s.connects:
            continue
        # Spans of one continuous session: from an ok sub_connect to the next one answering session_present=false.
        spans = []
        start = s.connects[0]
        for c in s.connects[1:]:
            if not c[2]:
                spans.append((start, c))
                start = c
        spans.append((start, None))
        for pub in pubs.values():
            if not pub.ok:
                continue
            topic = pub.value.get("topic")
            if topic is None or not any(topic_matches(f, topic) for f in s.filters):
                continue
            span = next(((a, b) for a, b in spans if a[0] < pub.inv_idx and (b is None or pub.inv_idx < b[0])),
                        None)
            if span is None:
                continue  # published before the subscription existed
            expected += 1
            if pub.value["msg"] in s.delivered:
                continue
            lost += 1
            base = {"client_id": cid, "msg": pub.value["msg"], "publish_line": pub.inv_idx + 1}
            if span[1] is not None:
                exceptions.append(dict(base, reason="session_lost",
                                       detail=f"sub_connect at line {span[1][0] + 1} answered session_present=false"))
                continue
            if s.final is None:
                exceptions.append(dict(base, reason="not_drained", detail="no sub_final for this subscriber"))
                continue
            # Where was the session when the message was published, and when was it next attached?
            before = [c for c in s.connects if c[0] < pub.inv_idx]
            holder = before[-1][3] if before else None
            nxt = next((c for c in s.connects if c[0] > pub.inv_idx), None)
            until_t = nxt[1] if nxt is not None else s.final[1]
            parked = any(before[-1][0] < i < pub.inv_idx for i, _ in s.disconnects) if before else False
            # A parked session's messages wait on its holder (or in the replicated queue) until it reattaches; a
            # connected one gets them at once, so only a fault right around the publish can take them.
            hit_until = until_t if parked else min(until_t, (pub.cmp_t or pub.inv_t) + move_grace_s)
            part = [f for f in faults if f["fault"] == "partition"]
            other = [f for f in faults if f["fault"] != "partition"]
            fault = _fault_hits(other, holder, pub.inv_t, hit_until) if nxt is not None else None
            if fault is None and pub.node != holder:
                # A paused holder is held dead by the others (after the suspicion timeout) like a killed one, but its
                # client may keep its TCP connection through the pause and never reconnect.
                paused = [f for f in other if f["fault"] == "pause"]
                fault = _fault_hits(paused, holder, pub.inv_t, pub.cmp_t or pub.inv_t)
            cut_off = _fault_hits(part, holder, pub.inv_t, hit_until) if pub.node != holder else None
            if cut_off is None and fault is None and pub.node != holder:
                healed = _healed_before(part, holder, pub.inv_t, heal_grace_s)
                if healed is not None:
                    exceptions.append(dict(base, reason="partition_healing",
                                           detail=f"published {pub.inv_t - healed['stop_t']:.3f}s after the "
                                                  f"partition ({healed['detail']}) healed: node {pub.node} did not "
                                                  f"yet hold node {holder}'s routes again"))
                    continue
            if fault is None and cut_off is not None:
                exceptions.append(dict(base, reason="partitioned",
                                       detail=f"partition ({cut_off['detail']}) at t={cut_off['start_t']:.3f}: "
                                              f"published on node {pub.node}, session on node {holder}"))
                continue
            if fault is not None:
                exceptions.append(dict(base, reason="holder_failed",
                                       detail=f"{fault['fault']} of {fault['nodes']} at t={fault['start_t']:.3f} "
                                              f"while node {holder} held the session "
                                              f"({'parked' if parked else 'connected'}); reattached at "
                                              f"t={until_t:.3f}"))
                continue
            lo = pub.inv_t - move_grace_s
            hi = (pub.cmp_t if pub.cmp_t is not None else pub.inv_t) + move_grace_s
            first = s.connects[0][0]
            moving = sorted(t for i, t in s.disconnects + s.attempts if i > first and lo <= t <= hi)
            if moving:
                exceptions.append(dict(base, reason="session_moving",
                                       detail=f"the subscriber reconnected at t={moving[0]:.3f}, within "
                                              f"{move_grace_s}s of the publish"))
                continue
            hist_lines = [l for _, l in before[-1][4].lines] if before else []
            hist_lines += [l for _, l in pub.lines] + [hist.lines[s.final[0]]]
            violations.append({
                "kind": "lost_message", "key": cid,
                "explanation": f"{pub.value['msg']!r} on {topic!r} was PUBACKed (line {pub.cmp_idx + 1}) while "
                               f"{cid} was subscribed with its session kept, and was never delivered before its "
                               f"sub_final (line {s.final[0] + 1})",
                "history": hist_lines})
    for ev in hist.events:
        if ev.f == "unauthorized_deliver":
            violations.append({"kind": "unauthorized_delivery", "key": ev.value.get("client_id"),
                               "explanation": "the runner recorded a delivery to a client not allowed to receive it",
                               "history": [ev.raw]})
    stats = {"subscribers": len(subs), "expected_deliveries": expected, "lost": lost, "duplicated": duplicates,
             "deliveries_of_unknown_messages": unknown}
    return violations, exceptions, stats
