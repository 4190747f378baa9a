"""invoke lab.soak: N times destroy -> up -> check, one line per cycle.

Each command runs as a trainer would type it (a new process each time), so a
cycle sees everything a real evening sees: nodes created from nothing, the
swarm formed again, images pushed from the registry cache, the checks from
the host. Host caches (the Debian base, the node image, apt and registry
caches) are kept: `lab.destroy --all` would also remove the Debian base image
that other labs on this machine build from.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import LabConfig

STEPS = (("destroy", ("lab.destroy",)), ("up", ("lab.up",)), ("check", ("lab.check",)))
TIMEOUT = 1800


@dataclass
class Cycle:
    number: int
    seconds: dict[str, float]
    failed: str | None  # the command that failed, None when all passed
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.failed is None

    def line(self) -> str:
        times = " ".join(f"{name} {self.seconds[name]:.1f}s" for name, _ in STEPS if name in self.seconds)
        result = "pass" if self.ok else f"FAIL in {self.failed}: {self.detail}"
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        return f"cycle {self.number} {stamp} {times} total {sum(self.seconds.values()):.1f}s {result}"


def last_error(output: str) -> str:
    """The lab's own error line (it starts with a cross), else the last line."""
    lines = [l.strip() for l in output.splitlines() if l.strip()]
    marked = [l for l in lines if l.startswith(("✗", "error", "Error"))]
    return (marked or lines or ["no output"])[-1][:300]


def one_cycle(config: LabConfig, number: int, run=subprocess.run) -> Cycle:
    seconds: dict[str, float] = {}
    for name, args in STEPS:
        start = time.monotonic()
        try:
            result = run([sys.executable, "-m", "invoke", *args, "--config", str(config.path)],
                         cwd=config.root, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            seconds[name] = time.monotonic() - start
            return Cycle(number, seconds, name, f"no end after {TIMEOUT}s")
        seconds[name] = time.monotonic() - start
        if result.returncode != 0:
            return Cycle(number, seconds, name,
                         f"exit {result.returncode}: {last_error(result.stdout + result.stderr)}")
    return Cycle(number, seconds, None)


def summary(cycles: list[Cycle]) -> str:
    passed = [c for c in cycles if c.ok]
    lines = [f"{len(passed)} of {len(cycles)} cycles passed"]
    for name, _ in STEPS:
        values = [c.seconds[name] for c in passed]
        if values:
            lines.append(f"{name}: min {min(values):.1f}s, median {statistics.median(values):.1f}s, "
                         f"max {max(values):.1f}s")
    failed = [c for c in cycles if not c.ok]
    for c in failed:
        lines.append(f"cycle {c.number} failed in {c.failed}: {c.detail}")
    return "\n".join(lines)


def soak(config: LabConfig, cycles: int, out: Path, run=subprocess.run, echo=print) -> list[Cycle]:
    out.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = f"lab.soak of {config.name}: {cycles} cycles of destroy -> up -> check, started {started}"
    out.write_text(header + "\n")
    echo(header)
    done: list[Cycle] = []
    stopped = ""
    for number in range(1, cycles + 1):
        try:
            cycle = one_cycle(config, number, run)
        except KeyboardInterrupt:
            # A trainer's Ctrl-C ends the soak, not its record: the cycles
            # that finished still get their summary.
            stopped = f"stopped by Ctrl-C during cycle {number}; not counted\n"
            break
        done.append(cycle)
        with out.open("a") as f:
            f.write(cycle.line() + "\n")
        echo(cycle.line())
    text = stopped + summary(done)
    with out.open("a") as f:
        f.write(text + "\n")
    echo(text)
    return done


def main(path: str, cycles: str) -> None:
    from .commands import load_config
    from .nodes import own_dir

    try:
        count = int(cycles)
    except ValueError:
        count = 0
    if not 1 <= count <= 100:
        raise SystemExit(f"--cycles: a whole number from 1 to 100, not {cycles!r}")
    config = load_config(path)
    out = own_dir(config) / f"soak-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}.txt"
    done = soak(config, count, out)
    print(f"written to {out}")
    if not all(c.ok for c in done):
        raise SystemExit(1)
