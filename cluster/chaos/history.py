"""Reading a chaos history (JSON lines, format in ops/design-notes.md "Chaos checker (issue 8)").

Every client operation is an `invoke` line followed, for the same `process`, by one completion line (`ok`, `fail`
or `info`). `pair` turns the lines into `Op`s: an invoke without a completion (the run ended first) is `info`.
Lines that are not part of a pair (deliveries, nemesis and monitor lines, `sub_disconnect`, `sub_final`) are kept
as `Event`s. Positions are line indexes: the runner writes from one queue, so the line order is the real-time
order, and the checker uses indexes (never the float `t`) to decide what happened before what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class Op:
    """One client operation: its invoke line and its completion line (None when the run ended first)."""

    id: int
    process: str
    f: str
    key: Any
    node: Any
    type: str  # "ok" | "fail" | "info"
    inv_idx: int
    inv_t: float
    cmp_idx: int | None
    cmp_t: float | None
    value: dict  # the invoke's value
    result: dict  # the completion's value ({} when there is none)
    lines: list = field(default_factory=list)  # [(index, raw dict)] in order

    @property
    def ok(self) -> bool:
        return self.type == "ok"


@dataclass
class Event:
    """A line that is not part of an invoke/completion pair."""

    idx: int
    t: float
    process: str
    f: str
    type: str
    key: Any
    node: Any
    value: dict
    raw: dict


@dataclass
class History:
    lines: list  # raw dicts, index = position
    ops: list  # [Op] in invoke order
    events: list  # [Event] in line order
    warnings: list  # strings: malformed or unexpected lines

    @property
    def end_t(self) -> float:
        return max((float(l.get("t", 0.0)) for l in self.lines), default=0.0)


def parse_lines(lines: Iterable) -> list:
    """JSON text lines (or already decoded dicts) to dicts; blank lines are skipped."""
    out = []
    for n, line in enumerate(lines):
        if isinstance(line, dict):
            out.append(line)
            continue
        text = line.strip()
        if not text:
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {n + 1}: not JSON ({e})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"line {n + 1}: not a JSON object")
        out.append(obj)
    return out


def pair(raw: list) -> History:
    ops: list = []
    events: list = []
    warnings: list = []
    pending: dict = {}  # process -> Op waiting for its completion
    for idx, line in enumerate(raw):
        typ = line.get("type")
        proc = str(line.get("process", ""))
        f = line.get("f", "")
        t = float(line.get("t", 0.0))
        value = line.get("value") or {}
        if typ == "invoke":
            if proc in pending:
                warnings.append(f"line {idx + 1}: {proc} invoked {f} while {pending[proc].f} was in flight; "
                                f"the earlier one is taken as info")
                del pending[proc]
            op = Op(id=len(ops), process=proc, f=f, key=line.get("key"), node=line.get("node"), type="info",
                    inv_idx=idx, inv_t=t, cmp_idx=None, cmp_t=None, value=value, result={}, lines=[(idx, line)])
            ops.append(op)
            pending[proc] = op
        elif typ in ("ok", "fail", "info"):
            op = pending.get(proc)
            if op is not None and op.f == f:
                del pending[proc]
                op.type = typ
                op.cmp_idx = idx
                op.cmp_t = t
                op.result = value
                op.lines.append((idx, line))
                if op.node is None:
                    op.node = line.get("node")
            else:
                if op is not None:
                    warnings.append(f"line {idx + 1}: {proc} completed {f} while {op.f} was in flight")
                events.append(Event(idx=idx, t=t, process=proc, f=f, type=typ, key=line.get("key"),
                                    node=line.get("node"), value=value, raw=line))
        else:
            warnings.append(f"line {idx + 1}: unknown type {typ!r}")
    return History(lines=raw, ops=ops, events=events, warnings=warnings)


def load(lines: Iterable) -> History:
    return pair(parse_lines(lines))


def op_lines(ops: Iterable, cut: int | None = None) -> list:
    """The raw lines of `ops` in history order (only those at or before `cut` when given)."""
    got = sorted({idx: line for op in ops for idx, line in op.lines if cut is None or idx <= cut}.items())
    return [line for _, line in got]
