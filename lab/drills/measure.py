"""Measurements the drills report: a probe loop over HTTP, task timelines.

The arithmetic is kept apart from the I/O so that it can be tested alone."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from ..checks.http import request


@dataclass
class Sample:
    at: float
    url: str
    ok: bool


def longest_gap(samples: list[Sample], url: str) -> float:
    """Longest time without a good answer from `url`: from the last good
    answer before a run of failures to the first good one after it (or to the
    last sample when it never came back)."""
    mine = [s for s in samples if s.url == url]
    gap, last_ok, failing = 0.0, None, False
    for s in mine:
        if s.ok:
            if failing and last_ok is not None:
                gap = max(gap, s.at - last_ok)
            last_ok, failing = s.at, False
        else:
            failing = True
    if failing and mine:
        start = last_ok if last_ok is not None else mine[0].at
        gap = max(gap, mine[-1].at - start)
    return gap


@dataclass
class ProbeLoop:
    """GET each URL every `interval` seconds in a thread until stopped."""
    urls: list[str]
    interval: float = 0.2
    timeout: float = 2.0
    limit: float = 600.0
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        end = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < end:
            tick = time.monotonic()
            for url in self.urls:
                try:
                    ok = request("GET", url, timeout=self.timeout).status == 200
                except OSError:
                    ok = False
                self.samples.append(Sample(time.monotonic(), url, ok))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - tick)))

    def __enter__(self) -> "ProbeLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.timeout * len(self.urls) + 5)

    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.samples)

    @property
    def total(self) -> int:
        return len(self.samples)

    def longest_gap(self) -> float:
        return max((longest_gap(self.samples, u) for u in self.urls), default=0.0)


# -- task timelines ------------------------------------------------------------

def parse_time(text: str) -> float:
    """Docker's RFC 3339 timestamps (nanoseconds, Z) -> seconds since the epoch."""
    text = text.strip().replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text).timestamp()


@dataclass
class Timeline:
    """The states one task went through, as they were seen."""
    task: str
    service: str
    created: float
    events: list[tuple[str, str, float]] = field(default_factory=list)  # (state, node, seconds from creation)

    def see(self, task_state: str, node: str, at: float) -> None:
        if not self.events or self.events[-1][0] != task_state:
            self.events.append((task_state, node, round(at - self.created, 2)))

    def line(self) -> str:
        return " -> ".join(f"{s.upper()} ({n or '-'}, {t:.1f}s)" for s, n, t in self.events)


def record(timelines: dict[str, Timeline], tasks: list[dict], node_names: dict[str, str]) -> None:
    """Add one poll of `docker inspect <task>...` to the timelines. Each task's
    state comes with the time docker stamped it, not the time it was seen."""
    for t in tasks:
        status = t.get("Status") or {}
        tid = t["ID"]
        line = timelines.get(tid)
        if line is None:
            line = timelines[tid] = Timeline(tid, t.get("ServiceID", ""), parse_time(t["CreatedAt"]))
        node = node_names.get(t.get("NodeID", ""), "")
        at = parse_time(status.get("Timestamp") or t["CreatedAt"])
        st = status.get("State", "")
        seen = {e[0] for e in line.events}
        if "remove" in seen:
            # Removing: only a state it had not reached yet (its end) is news.
            if st not in seen:
                line.see(st, node, at)
            continue
        line.see(st, node, at)
        if t.get("DesiredState") == "remove":
            # Its service was removed or scaled down: the tutorial's REMOVE.
            line.see("remove", node, at)


def states_seen(timelines: dict[str, Timeline]) -> set[str]:
    return {s for line in timelines.values() for s, _, _ in line.events}


def spacing(starts: list[float]) -> list[float]:
    """Seconds between consecutive times (sorted): how far apart tasks were replaced."""
    ordered = sorted(starts)
    return [round(b - a, 2) for a, b in zip(ordered, ordered[1:])]


def quorum(managers: int) -> tuple[int, int]:
    """Raft: (votes a decision needs, managers that may be lost)."""
    need = managers // 2 + 1
    return need, managers - need
