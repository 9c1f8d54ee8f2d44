"""The invariants the under-fire test holds the log to, given the writers' ledger.

A batch is known by its event ids; it may have been sent several times (duplicates sent at
once, re-appends, retries after an unknown outcome). Its fate is the best any sending got:
acked by one -> present exactly once where that ack said; else unknown by one -> present
whole or not at all; else (refused or rolled back every time) -> absent, every event of it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from event_store import RecordedEvent
from tests.event_store.fire_load import Send

# Findings that are issue 19's known store bugs (items 1 and 2), reported apart.
KNOWN = {
    "order": "issue 19 item 1: a stream's events reach log readers out of version order",
    "partial": "issue 19 item 2: refused batches partly committed (not all or nothing)",
    "idempotency": "issue 19 item 2: IdempotencyConflict for ids nobody reused",
}
EXAMPLES = 5


class Row(NamedTuple):
    position: tuple[int, int, int]  # (epoch, transaction id, sequence)
    stream: str
    version: int
    event_id: str


def rows_of(events: Iterable[RecordedEvent]) -> list[Row]:
    return [Row((e.position.epoch, e.position.transaction_id, e.position.sequence),
                e.stream_id, e.version, str(e.event_id)) for e in events]


def _pos(p: tuple[int, int, int]) -> str:
    return ".".join(map(str, p))


class Findings:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, category: str, text: str, count: int = 1) -> None:
        self.counts[category] += count
        if len(self.items[category]) < EXAMPLES:
            self.items[category].append(text)

    def unexpected(self) -> list[str]:
        return [c for c in self.counts if c not in KNOWN]

    def report(self) -> str:
        lines = []
        for category, count in sorted(self.counts.items()):
            title = KNOWN.get(category, f"VIOLATION {category}")
            lines.append(f"- {title}: {count}")
            lines += [f"    {text}" for text in self.items[category]]
        return "\n".join(lines)


def check(sends: Sequence[Send], table: Sequence[Row],
          log: Sequence[Row], readers: dict[str, Sequence[Row]]) -> Findings:
    found = Findings()
    by_id = {row.event_id: row for row in table}
    batches: dict[tuple[str, ...], list[Send]] = defaultdict(list)
    for send in sends:
        batches[send.ids].append(send)
    for ids, group in batches.items():
        _check_batch(found, ids, group, by_id)
    known_ids = {i for ids in batches for i in ids}
    for row in table:
        if row.event_id not in known_ids:
            found.add("phantom", f"{row} was never sent")
    for send in sends:  # no writer ever sends an event id again with other content
        if send.outcome == "refused" and send.error == "IdempotencyConflict":
            sent = len(batches[send.ids])
            found.add("idempotency", f"{send.stream} ({send.expected}, {len(send.ids)} events, "
                      f"{send.how}, batch sent {sent}x) refused as an idempotency conflict")
    _check_versions(found, table)
    _check_same("read_all", found, log, table, "the events table in commit order")
    for name, got in readers.items():
        _check_same(f"reader {name}", found, got, log, "read_all")
    for name, sequence in {"read_all": log, **{f"reader {n}": r for n, r in readers.items()}
                           }.items():
        _check_order(found, name, sequence)
    return found


def _check_batch(found: Findings, ids: tuple[str, ...], group: list[Send],
                 by_id: dict[str, Row]) -> None:
    present = [by_id[i] for i in ids if i in by_id]
    acked = [s for s in group if s.outcome == "acked"]
    first = group[0]
    label = f"{first.stream} ({first.expected}, {len(ids)} events)"
    for send in group:
        if send.how == "reappend" and send.outcome == "refused":
            found.add("re-append refused", f"{label}: re-append of an acked batch -> {send.error}")
    if acked:
        for send in acked:
            if send.positions != acked[0].positions:
                found.add("acks disagree", f"{label}: acked at {acked[0].positions} and at "
                          f"{send.positions} ({send.how})")
        send = acked[0]
        for i, event_id in enumerate(ids):
            row = by_id.get(event_id)
            want = (send.positions[i], send.stream, send.version - len(ids) + 1 + i)
            if row is None:
                found.add("lost", f"{label}: acked event {event_id} ({send.how}) not in the log")
            elif (row.position, row.stream, row.version) != want:
                found.add("misplaced", f"{label}: acked as {want}, found at "
                          f"{(row.position, row.stream, row.version)}")
        return
    if not present:
        return
    if any(s.outcome == "unknown" for s in group):
        versions = [r.version for r in present]
        whole = len(present) == len(ids) and versions == list(
            range(versions[0], versions[0] + len(ids))) and {r.stream for r in present} == {
            first.stream}
        if not whole:
            found.add("unknown partly present", f"{label}: {len(present)} of {len(ids)} "
                      f"events present (versions {versions})")
        return
    outcomes = ", ".join(sorted({f"{s.outcome} ({s.how}, {s.error or 'no error'})"
                                 for s in group}))
    versions = [r.version for r in present]
    if len(present) < len(ids):
        found.add("partial", f"{label}: {outcomes}, yet {len(present)} of {len(ids)} events "
                  f"committed (versions {versions})")
    else:
        found.add("present though refused", f"{label}: {outcomes}, yet all committed "
                  f"(versions {versions})")


def _check_versions(found: Findings, table: Sequence[Row]) -> None:
    streams: dict[str, list[int]] = defaultdict(list)
    for row in table:
        streams[row.stream].append(row.version)
    for stream, versions in streams.items():
        versions.sort()
        if versions != list(range(1, len(versions) + 1)):
            missing = sorted(set(range(1, versions[-1] + 1)) - set(versions))
            found.add("version gap", f"{stream}: versions {versions[:3]}..{versions[-3:]}, "
                      f"missing {missing[:10]}")


def _check_same(name: str, found: Findings, got: Sequence[Row], want: Sequence[Row],
                against: str) -> None:
    if list(got) == list(want):
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
              min(len(got), len(want)))
    found.add(f"{name} differs", f"{name} has {len(got)} events, {against} {len(want)}; "
              f"first difference at index {at}: {got[at] if at < len(got) else None} vs "
              f"{want[at] if at < len(want) else None}")


def _check_order(found: Findings, name: str, sequence: Sequence[Row]) -> None:
    """Counts every pair of one stream's events that a reader gets in the wrong order."""
    seen: dict[str, list[int]] = defaultdict(list)
    last: dict[str, Row] = {}
    inverted = 0
    examples = []
    for row in sequence:
        earlier = seen[row.stream]
        inverted += len(earlier) - bisect.bisect_right(earlier, row.version)
        bisect.insort(earlier, row.version)
        before = last.get(row.stream)
        if before is not None and before.version > row.version and len(examples) < EXAMPLES:
            examples.append(f"{row.stream}: v{before.version} (at {_pos(before.position)}) "
                            f"before v{row.version} (at {_pos(row.position)})")
        last[row.stream] = row
    if inverted:
        found.add("order", f"{name}: {inverted} inverted pairs; first: " + "; ".join(examples),
                  inverted if name == "read_all" else 0)  # counted once: readers equal it
