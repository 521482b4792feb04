"""Linearizability of one shadow as a versioned register (Wing–Gong search with Lowe's memoization).

Model. The state is (version, set): version 0 and set None before the first update (a get answered 404 reads
version 0). An update {set, expected_version} applies only if expected_version is None or equals the current
version; an applied update makes the state (version + 1, set). A get returns the current (version, set). A get
whose `set` is None at a version > 0 is checked on the version only (the document had no reported.value).

Operations. `ok` ones happened once, between their invoke and their completion; `fail` ones did not happen and are
left out; `info` ones may have happened once at any time after their invoke (or never), so an info get is left out
and an info update may be linearized anywhere after its invoke or not at all.

Pruning by versions (sound because each applied update produces exactly one new version):
- an ok update names the version it produced, so it only applies from version - 1;
- a version named by an ok update, or by a get that names the set, is *claimed*: its writer is known, so an info
  update can only produce a claimed version when a get saw its own set at that version (its *forced* version);
- an info update nobody saw can only fill a *gap*: an unclaimed version below the highest version any ok operation
  shows. Producing a version above it would leave no ok operation able to follow, and success only needs the ok
  ones; an unseen info update with no usable gap (its expected_version rules it out, or there is no gap) is left out.

Search. Entries (calls and returns) in a doubly linked list in history order, info returns at the end; from the
head, linearize the first call whose model step is allowed and whose (linearized set, state) is new, else move on;
meeting the return of an op not yet linearized means backtracking. Reaching the info returns (or the end) means
every ok op is linearized: the history is linearizable. Bounded by `max_steps` (None = undecided).

Witnesses. `shortest_witness` cuts the history to the shortest failing prefix (operations still running at the cut
become info, which can only make it easier to linearize), then drops operations while it still fails. Dropping an
update is only sound under the *phantom* model, where the dropped updates (and the info ones) may have happened at
any time: a get may see a later version than the last update kept, naming the set of an update of the full history
that did not fail (at the version it was acknowledged with, if it was), and an update may name any later version. A
sub-history failing under it fails under the strict model, whatever the dropped operations did. When the violation needs the strict model (a version with no
possible writer), only gets are dropped, which is always sound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

INF = float("inf")
_ANY = object()  # phantom model: a state whose set is unknown (only a get's set None leads there)
_GAP = object()  # strict model: the set written by an info update no get saw


@dataclass
class RegOp:
    op: Any  # history.Op
    kind: str  # "w" (update) | "r" (get)
    ok: bool
    call: int
    ret: float  # completion index, INF for info
    set: Any
    version: int | None  # produced (ok update) or read (get)
    expected: int | None
    forced: int | None = None  # info update: the version a get saw its set at
    prev: int | None = None  # unseen info update: the previous unseen one with the same expected_version


def _int(x):
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def prepare(ops, cut=None, relaxed=False):
    """RegOps for one key's shadow ops. Ops invoked after `cut` are dropped, ops completing after it become info.

    Returns (regops, ctx) where ctx carries the claimed versions and the highest version an ok op shows."""
    out = []
    for op in ops:
        if op.f not in ("shadow_update", "shadow_get"):
            continue
        if cut is not None and op.inv_idx > cut:
            continue
        typ = op.type
        if cut is not None and (op.cmp_idx is None or op.cmp_idx > cut):
            typ = "info"
        if typ == "fail":
            continue
        ok = typ == "ok"
        if op.f == "shadow_get":
            if not ok:
                continue
            v = op.result.get("version")
            v = 0 if v is None else _int(v)
            if v is None:
                continue  # malformed answer: reported by the history warnings, not checked here
            out.append(RegOp(op, "r", True, op.inv_idx, op.cmp_idx, op.result.get("set") if v > 0 else None, v, None))
        else:
            if relaxed and not ok:
                continue  # the phantom model covers whatever an info update did
            v = _int(op.result.get("version")) if ok else None
            if ok and v is None:
                ok = False  # an ok without a version tells us nothing more than info
            out.append(RegOp(op, "w", ok, op.inv_idx, op.cmp_idx if ok else INF, op.value.get("set"),
                             v, _int(op.value.get("expected_version"))))
    claimed = {r.version for r in out if r.ok and r.kind == "w"}
    claimed |= {r.version for r in out if r.kind == "r" and r.version > 0 and r.set is not None}
    top = max((r.version for r in out if r.ok), default=0)
    seen_at = {}
    for r in out:
        if r.kind == "r" and r.set is not None and r.version > 0:
            seen_at.setdefault(r.set, r.version)
    gaps = [g for g in range(1, top + 1) if g not in claimed]
    kept = []
    for r in out:
        if r.kind == "w" and not r.ok:
            r.forced = seen_at.get(r.set)
            if r.forced is None:
                usable = any(r.expected is None or r.expected == g - 1 for g in gaps)
                if not usable:
                    continue
        kept.append(r)
    # Unseen info updates with the same expected_version are interchangeable except for their invoke: whatever a
    # later-invoked one does, an earlier one could do instead. So they are only used in invoke order.
    last_of = {}
    for i, r in enumerate(kept):
        if r.kind == "w" and not r.ok and r.forced is None:
            r.prev = last_of.get(r.expected)
            last_of[r.expected] = i
    return kept, {"claimed": claimed, "top": top}


def _strict_step(ctx):
    claimed, top = ctx["claimed"], ctx["top"]

    def step(state, r):
        v, s = state
        if r.kind == "r":
            if r.version != v:
                return None
            if r.set is not None and r.set != s:
                return None
            return state
        if r.expected is not None and r.expected != v:
            return None
        nv = v + 1
        if r.ok:
            if r.version != nv:
                return None
        elif r.forced is not None:
            if r.forced != nv:
                return None
        else:
            if nv in claimed or nv > top:
                return None
            return (nv, _GAP)  # nobody read it: its set never matters, and equal states merge in the cache
        return (nv, r.set)

    return step


def _phantom_step(written):
    """`written`: set -> version (None when not known) for every update of the whole key history that did not
    fail; a phantom can only be one of them, so a get naming another set, or a set at another version than its
    acknowledged update produced, is impossible even with phantoms."""

    def step(state, r):
        v, s = state
        if r.kind == "r":
            if r.set is not None:
                if r.set not in written:
                    return None
                known = written[r.set]
                if known is not None and known != r.version:
                    return None
            if r.version < v:
                return None
            if r.version == v:
                if r.set is None or s is _ANY:
                    return (v, r.set if r.set is not None else s)
                return state if r.set == s else None
            return (r.version, r.set if r.set is not None else _ANY)
        if not r.ok:
            return None
        if r.version <= v:
            return None
        if r.expected is not None and (r.expected != r.version - 1 or r.expected < v):
            return None
        return (r.version, r.set)

    return step


def written_sets(ops):
    """set -> acknowledged version (None for info) of every shadow update that did not fail."""
    out = {}
    for o in ops:
        if o.f == "shadow_update" and o.type != "fail":
            v = _int(o.result.get("version")) if o.ok else None
            if out.get(o.value.get("set")) is None:
                out[o.value.get("set")] = v
    return out


@dataclass
class SearchResult:
    valid: Any  # True | False | None (gave up)
    steps: int
    deepest: int  # most ops linearized at once
    blocked: Any  # the RegOp whose return stopped the deepest attempt
    state_at_deepest: Any


def search(regops, step, init=(0, None), max_steps=2_000_000) -> SearchResult:
    n = len(regops)
    if n == 0:
        return SearchResult(True, 0, 0, None, init)
    entries = []
    for i, r in enumerate(regops):
        entries.append(((r.call, 0, i), i))
        entries.append(((r.ret, 1, i), n + i))
    entries.sort()
    size = 2 * n + 1
    head = 2 * n
    nxt = [-1] * size
    prv = [-1] * size
    last = head
    for _, e in entries:
        nxt[last] = e
        prv[e] = last
        last = e

    def lift(c):
        for e in (c, c + n):
            p, q = prv[e], nxt[e]
            nxt[p] = q
            if q != -1:
                prv[q] = p

    def unlift(c):
        for e in (c + n, c):
            p, q = prv[e], nxt[e]
            nxt[p] = e
            if q != -1:
                prv[q] = e

    state = init
    linearized = 0
    depth = 0
    cache = set()
    stack = []
    steps = 0
    deepest, blocked, deep_state = -1, None, init
    e = nxt[head]
    while True:
        if e == -1 or (e >= n and regops[e - n].ret == INF):
            return SearchResult(True, steps, depth, None, state)
        steps += 1
        if steps > max_steps:
            return SearchResult(None, steps, deepest, blocked, deep_state)
        if e < n:
            pv = regops[e].prev
            ns = step(state, regops[e]) if pv is None or (linearized >> pv) & 1 else None
            if ns is not None:
                lin2 = linearized | (1 << e)
                k = (lin2, ns)
                if k not in cache:
                    cache.add(k)
                    stack.append((e, state))
                    state = ns
                    linearized = lin2
                    depth += 1
                    lift(e)
                    e = nxt[head]
                    continue
            e = nxt[e]
        else:
            if depth > deepest:
                deepest, blocked, deep_state = depth, regops[e - n], state
            if not stack:
                return SearchResult(False, steps, deepest, blocked, deep_state)
            c, state = stack.pop()
            linearized &= ~(1 << c)
            depth -= 1
            unlift(c)
            e = nxt[c]


def check_strict(ops, cut=None, max_steps=2_000_000) -> SearchResult:
    regops, ctx = prepare(ops, cut=cut)
    return search(regops, _strict_step(ctx), max_steps=max_steps)


def check_phantom(ops, written, cut=None, max_steps=200_000) -> SearchResult:
    regops, _ = prepare(ops, cut=cut, relaxed=True)
    return search(regops, _phantom_step(written), max_steps=max_steps)


def _ddmin(items, fails, deadline):
    chunk = max(1, len(items) // 2)
    while True:
        i = 0
        while i < len(items) and time.monotonic() < deadline:
            cand = items[:i] + items[i + chunk:]
            if cand and fails(cand):
                items = cand
            else:
                i += chunk
        if chunk == 1 or time.monotonic() >= deadline:
            return items
        chunk = max(1, chunk // 2)


def shortest_witness(ops, time_budget_s=3.0):
    """For a key's ops that fail the strict check: (witness ops, cut, model) with model "phantom" or "strict"."""
    deadline = time.monotonic() + time_budget_s
    ops = [o for o in ops if o.f in ("shadow_update", "shadow_get")]
    positions = sorted({o.inv_idx for o in ops} | {o.cmp_idx for o in ops if o.cmp_idx is not None})

    def strict_fails(cand, cut):
        return check_strict(cand, cut=cut, max_steps=200_000).valid is False

    lo, hi = 0, len(positions) - 1  # positions[hi] fails (the whole history fails)
    while lo < hi and time.monotonic() < deadline:
        mid = (lo + hi) // 2
        if strict_fails(ops, positions[mid]):
            hi = mid
        else:
            lo = mid + 1
    cut = positions[hi] if positions else None
    live = [o for o in ops if cut is None or o.inv_idx <= cut]

    written = written_sets(ops)

    def phantom_fails(cand):
        return check_phantom(cand, written, cut=cut, max_steps=50_000).valid is False

    if phantom_fails(live):
        keep = [o for o in live if o.type == "ok" and o.cmp_idx is not None and o.cmp_idx <= cut]
        keep = _ddmin(keep, phantom_fails, deadline)
        return keep, cut, "phantom"
    reads = [o for o in live if o.f == "shadow_get"]
    others = [o for o in live if o.f != "shadow_get"]
    reads = _ddmin(reads, lambda cand: strict_fails(others + cand, cut), deadline) if reads else reads
    if reads and strict_fails(others, cut):
        reads = []
    return sorted(others + reads, key=lambda o: o.inv_idx), cut, "strict"
