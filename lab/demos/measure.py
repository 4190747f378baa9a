"""Numbers of a demo: payloads that prove their own content, round-trip
statistics. Standard library only: the demo image runs this same file
(copied beside demo.py), so the code the unit tests check is the code that
measures on the nodes.
"""
from __future__ import annotations

import math

# Every message starts with its sequence number (4 bytes): the smallest
# message that can still say which one it is.
MIN_SIZE = 8
MAX_SIZE = 60000
MIN_COUNT = 1
MAX_COUNT = 10000


def payload(seq: int, size: int) -> bytes:
    """Message number `seq`, `size` bytes: the number, then a filler that
    depends on it, so a consumer can tell a whole message from a damaged one."""
    head = seq.to_bytes(4, "big")
    filler = bytes((seq * 7 + i) % 251 for i in range(min(size - 4, 251)))
    body = (filler * (size // max(len(filler), 1) + 1))[: size - 4] if size > 4 else b""
    return head + body


def seq_of(data: bytes, size: int) -> int | None:
    """The sequence number of an intact message, None for a damaged one."""
    if len(data) != size:
        return None
    seq = int.from_bytes(data[:4], "big")
    return seq if data == payload(seq, size) else None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarize(rtts_ns: list[int], elapsed_s: float) -> dict:
    """Round trips (nanoseconds) of one run -> what the table shows."""
    ms = [v / 1e6 for v in rtts_ns]
    return {
        "round_trips": len(ms),
        "median_ms": round(median(ms), 3) if ms else None,
        "p99_ms": round(percentile(ms, 99), 3) if ms else None,
        "msgs_per_s": round(len(ms) / elapsed_s, 1) if ms and elapsed_s > 0 else None,
        "elapsed_s": round(elapsed_s, 3),
    }


def received_report(seqs: set[int], count: int, damaged: int = 0) -> dict:
    """What a consumer says it got: how many distinct intact messages of 0..count-1."""
    got = {s for s in seqs if 0 <= s < count}
    missing = [s for s in range(count) if s not in got]
    return {"expected": count, "received": len(got), "damaged": damaged,
            "missing": len(missing), "first_missing": missing[:5]}
