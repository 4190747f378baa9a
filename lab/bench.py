"""invoke lab.bench: measure the lab's main cycles and write docs/benchmarks.md.

Timings come from the lab's own run records (every step's seconds), taken by
running the real commands as a trainer would. Memory is the host's memory in
use (MemTotal - MemAvailable) above what it was with no lab, sampled every
second while each command runs.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from .config import load
from .host import meminfo_mib

ROOT = Path(__file__).resolve().parent.parent


def used_mb() -> float:
    info = meminfo_mib()
    return info["MemTotal"] - info["MemAvailable"]


class MemorySampler:
    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, used_mb())
            time.sleep(1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, used_mb())


def invoke(*args: str) -> tuple[float, list[dict], float]:
    """Run `invoke ARGS`; wall seconds, the run's steps, peak host memory (MB)."""
    start = time.monotonic()
    with MemorySampler() as mem:
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    latest = ROOT / ".lab" / "runs" / f"latest-{load(ROOT / 'lab.yaml').name}" / "steps.jsonl"
    steps = [json.loads(l) for l in latest.read_text().splitlines()] if latest.exists() else []
    return seconds, steps, mem.peak


def image_sizes() -> list[tuple[str, str]]:
    out = subprocess.run([sys.executable, "-m", "invoke", "lab.ssh", "manager", "-c",
                          "docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}'"],
                         cwd=ROOT, capture_output=True, text=True).stdout
    return sorted(tuple(line.split(" ", 1)) for line in out.splitlines() if " " in line and "<none>" not in line)


def api_throughput(seconds: int = 10) -> str:
    """A bounded load (at most `seconds`, loopback only) with wrk when installed."""
    import shutil

    if not shutil.which("wrk"):
        return "not measured (apt-get install wrk)"
    url = f"{load(ROOT / 'lab.yaml').api_url}health"
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    rps = next((l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")), "?")
    latency = next((l.split()[1] for l in out.splitlines() if l.strip().startswith("Latency")), "?")
    return f"{rps} requests/s on GET {url} (wrk, 2 threads, 16 connections, {seconds} s; mean latency {latency})"


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{min(values):.1f} / {statistics.median(values):.1f}"


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, {platform.system()} {platform.release()}"


def bench(cold_runs: int = 1, runs: int = 3, out: Path = ROOT / "docs" / "benchmarks.md") -> str:
    rows: dict[str, list[float]] = {}
    steps_of: dict[str, list[dict]] = {}
    peaks: list[float] = []

    def record(label: str, args: tuple[str, ...], keep_steps: bool = False):
        seconds, steps, peak = invoke(*args)
        rows.setdefault(label, []).append(seconds)
        peaks.append(peak)
        if keep_steps:
            steps_of.setdefault(label, steps)
        print(f"{label}: {seconds:.1f}s", flush=True)

    invoke("lab.destroy", "--all")
    time.sleep(2)
    baseline = used_mb()
    record("node image build, cold (debootstrap + node image + 4 nodes up)", ("lab.nodes.up",), keep_steps=True)
    record("lab.nodes.up again (no-op)", ("lab.nodes.up",))
    time.sleep(5)
    idle_nodes = used_mb() - baseline
    for _ in range(runs):
        invoke("lab.nodes.destroy")
        record("lab.nodes.up, node image cached", ("lab.nodes.up",))
    for _ in range(cold_runs):
        invoke("lab.destroy", "--all")
        record("cold lab.up (no caches, empty engine)", ("lab.up",), keep_steps=True)
    for _ in range(runs):
        invoke("lab.destroy")
        record("warm lab.up (caches kept, lab destroyed)", ("lab.up",), keep_steps=True)
    for _ in range(runs):
        record("no-op lab.up (with its smoke check)", ("lab.up",), keep_steps=True)
    for _ in range(runs):
        record("lab.check without the drill", ("lab.check", "--no-drill"), keep_steps=True)
    record("lab.check with the data-move drill", ("lab.check",), keep_steps=True)
    settled = used_mb() - baseline
    sizes = image_sizes()
    throughput = api_throughput()
    record("lab.destroy", ("lab.destroy",))
    peak = max(peaks) - baseline

    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks (docker provider)",
        "",
        f"Measured {date} on {machine()} by `invoke lab.bench` "
        f"({cold_runs} cold run(s), {runs} of each other). Seconds: min / median where several runs.",
        "",
        "| what | seconds | goal |",
        "|---|---|---|",
    ]
    goals = {"cold": "<= 240", "warm": "<= 60", "no-op": "<= 5", "lab.check without": "<= 15"}
    for label, values in rows.items():
        goal = next((g for k, g in goals.items() if label.startswith(k)), "")
        lines.append(f"| {label} | {summary(values)} | {goal} |")
    lines += ["", f"Host memory in use (above the {baseline:.0f} MB of the idle host): four idle nodes "
              f"{idle_nodes:.0f} MB; the whole lab running {settled:.0f} MB settled, {peak:.0f} MB peak "
              "(goal <= 3072 MB).", "", f"API through nginx-backend from the host: {throughput}", "",
              "## Image sizes (manager's engine)", "", "| image | size |", "|---|---|"]
    lines += [f"| {name} | {size} |" for name, size in sizes]
    lines.append("")
    for label in ("node image build, cold (debootstrap + node image + 4 nodes up)",
                  "cold lab.up (no caches, empty engine)", "warm lab.up (caches kept, lab destroyed)"):
        lines += [f"## Steps of one {label.split(' (')[0]}", "", "| step | outcome | seconds |", "|---|---|---|"]
        lines += [f"| {s['name']} | {s['outcome']} | {s['seconds']:.1f} |" for s in steps_of.get(label, [])]
        lines.append("")
    text = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = out.read_text() if out.exists() else ""
    marker = "\n<!-- other lanes below are kept by lab.bench -->\n"
    rest = existing.split(marker, 1)[1] if marker in existing else ""
    out.write_text(text + marker + rest)
    return text
