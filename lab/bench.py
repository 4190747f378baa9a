"""invoke lab.bench: measure the lab's main cycles and write docs/benchmarks.md.

Wall seconds of the real commands, as a trainer runs them, with each run's
steps from the lab's own record. Memory is the host's memory in use
(MemTotal - MemAvailable) above what it was with no lab, sampled every second.

The host's shared images (the Debian base, another lab's node image, the slim
base) are never removed: "cold from nothing" removes this lab's own node image
and caches, and adds the base's time, measured apart under a throwaway tag.
Each figure is written with its target (issue 16) and the value of the
previous bench, so a regression shows.
"""
from __future__ import annotations

import json
import lzma
import os
import random
import shutil
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from .background import Every
from .config import load
from .host import debian_mirror, meminfo_mib
from . import images
from .steps.deploy import STALL_NOTE

ROOT = Path(__file__).resolve().parent.parent
# The no-op and lab.check are measured on a lab in use, not one still
# starting its tasks: the host's CPUs under this share busy (the running lab's
# own health checks keep about 11 % of two cores busy).
SETTLED_BUSY = 0.35
BEGIN, END = "<!-- lab.bench: figures -->", "<!-- lab.bench: end of figures -->"
# figure key -> (what, target, value before issue 16's work, as measured then)
FIGURES = {
    "cold": ("cold `lab.up` from nothing (no cache at all)", "<= 120 s", "184 s"),
    "cold_cached": ("cold `lab.up`, host image cache kept (base, node image)", "<= 90 s", "-"),
    "warm": ("warm `lab.up` (`lab.destroy`, caches kept)", "<= 40 s", "89 s"),
    "resume": ("resume (`lab.down`, then `lab.up`)", "<= 20 s", "95 s"),
    "noop": ("no-op `lab.up`", "<= 2 s", "4.0 s"),
    "check": ("`lab.check --no-drill`", "<= 5 s", "4.0 s"),
    "size_database": ("image database", "<= 250 MB", "589 MB"),
    "size_backend": ("image backend", "<= 150 MB", "272 MB"),
    "size_frontend": ("image frontend", "<= 150 MB", "178 MB"),
    "size_nginx-frontend": ("image nginx-frontend (nginx-backend, mesh alike)", "<= 100 MB", "134 MB"),
}


def config_path() -> Path:
    return Path(os.environ.get("LAB_CONFIG") or ROOT / "lab.yaml").resolve()


def used_mb() -> float:
    info = meminfo_mib()
    return info["MemTotal"] - info["MemAvailable"]


class MemorySampler(Every):
    """The peak of the host's memory in use, every second and at the end."""

    def __init__(self):
        super().__init__()
        self.peak = 0.0

    def sample(self):
        self.peak = max(self.peak, used_mb())

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.sample()


def cpu_fields(stat: str | None = None) -> list[int]:
    """The jiffies of the host's CPUs from /proc/stat's first line, user to
    steal (guest time is already counted in user)."""
    stat = stat if stat is not None else Path("/proc/stat").read_text()
    return [int(v) for v in stat.split("\n", 1)[0].split()[1:9]]


def cpu_times(stat: str | None = None) -> tuple[int, int]:
    """(all, idle) jiffies of the host's CPUs."""
    fields = cpu_fields(stat)
    return sum(fields), fields[3] + fields[4]  # idle + iowait


def busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the CPUs' time that was busy between two cpu_times()."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1.0 - idle / total if total > 0 else 0.0


def stolen(before: str, after: str) -> float:
    """The share of the CPUs' time the hypervisor gave to other guests
    (/proc/stat's steal) between two reads of /proc/stat."""
    first, second = cpu_fields(before), cpu_fields(after)
    total = sum(second) - sum(first)
    return (second[7] - first[7]) / total if total > 0 else 0.0


def host_reference(rounds: int = 3) -> float:
    """Seconds of a fixed single-thread CPU workload: xz (preset 6) of a
    seeded 1 MB text, then a plain Python loop; the median of `rounds`.
    The lab's figures move with the host (sessions of issue 16 ran on hosts
    up to twice as fast as one another, with the same code): this figure,
    written beside them, tells the host's speed apart from the lab's."""
    rng = random.Random(16)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(4000)]
    data = " ".join(rng.choice(words) for _ in range(160_000)).encode()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        lzma.compress(data, preset=6)
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settle(below: float = SETTLED_BUSY, limit: float = 60.0, window: float = 2.0) -> float:
    """Wait until the host's CPUs are less than `below` busy over a `window`
    (the lab just brought up has started its tasks and health checks), at
    most `limit` seconds; the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = cpu_times()
        time.sleep(window)
        if busy(before, cpu_times()) < below:
            break
    return time.monotonic() - start


class Took(NamedTuple):
    seconds: float
    steps: list[dict]
    peak: float  # host memory in use, MB
    stalled: bool  # the stack step named an engine stall (30 s of Docker 20.10's own)


def invoke(*args: str) -> Took:
    """Run `invoke ARGS`; wall seconds, the run's steps, peak host memory (MB)."""
    start = time.monotonic()
    with MemorySampler() as mem:
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    latest = ROOT / ".lab" / "runs" / f"latest-{load(config_path()).name}" / "steps.jsonl"
    steps = [json.loads(l) for l in latest.read_text().splitlines()] if latest.exists() else []
    return Took(seconds, steps, mem.peak, STALL_NOTE in result.stdout)


def image_sizes() -> dict[str, float]:
    """MB of each app image as the nodes' engines hold it: after a warm
    lab.up the manager built nothing (the registry had every image), and each
    image is only on the nodes that run it."""
    sizes: dict[str, float] = {}
    for node in load(config_path()).nodes:
        out = subprocess.run([sys.executable, "-m", "invoke", "lab.ssh", node.name, "-c",
                              "docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}'"],
                             cwd=ROOT, capture_output=True, text=True).stdout
        for line in out.splitlines():
            name, _, size = line.partition(" ")
            # Swarm pulls by digest: on the workers the tag reads <none>.
            if ":4000/" in name and name.rsplit(":", 1)[1] in ("latest", "<none>"):
                sizes[name.split(":4000/")[1].rsplit(":", 1)[0]] = megabytes(size)
    return sizes


def megabytes(size: str) -> float:
    for unit, factor in (("GB", 1000.0), ("MB", 1.0), ("kB", 0.001), ("B", 0.000001)):
        if size.endswith(unit):
            return float(size[:-len(unit)]) * factor
    raise ValueError(f"not a docker image size: {size!r}")


def api_throughput(seconds: int = 10) -> str:
    """A bounded load (at most `seconds`, loopback only) with wrk when installed."""
    if not shutil.which("wrk"):
        return "not measured (apt-get install wrk)"
    url = f"{load(config_path()).api_url}health"
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    rps = next((l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")), "?")
    latency = next((l.split()[1] for l in out.splitlines() if l.strip().startswith("Latency")), "?")
    return f"{rps} requests/s on GET {url} (wrk, 2 threads, 16 connections, {seconds} s; mean latency {latency})"


def base_seconds() -> float:
    """The Debian base's build (debootstrap and import) under a throwaway tag:
    the shared lab/debian:bookworm stays as it is."""
    import tempfile

    tag = f"lab/bench-base:{os.getpid()}"
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lab-bench-base-") as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run(["debootstrap", "--variant=minbase", images.SUITE, str(root), debian_mirror()],
                       check=True, capture_output=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    seconds = time.monotonic() - start
    subprocess.run(["docker", "rmi", tag], capture_output=True)
    return seconds


def forget_caches(node_image: bool) -> None:
    """This lab's caches (apt, registry storage) and, for a cold run from
    nothing, its own node image; never an image another lab shares."""
    config = load(config_path())
    for sub in ("cache",):
        shutil.rmtree(ROOT / ".lab" / sub, ignore_errors=True)
    if node_image:
        subprocess.run(["docker", "rmi", "-f", images.node_image_name(config.name)], capture_output=True)


def other_labs() -> list[str]:
    """Labs of other people on this host while the bench runs (their node containers)."""
    out = subprocess.run(["docker", "ps", "--format", '{{.Label "lab"}}'], capture_output=True, text=True)
    mine = load(config_path()).name
    return sorted({l for l in out.stdout.split() if l and l != mine})


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
    distro = next((l.split("=", 1)[1].strip('"') for l in Path("/etc/os-release").read_text().splitlines()
                   if l.startswith("PRETTY_NAME=")), platform.system())
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, {distro}, Linux {platform.release()}"


def previous_figures(text: str) -> dict[str, str]:
    """The figures the last bench wrote (kept as JSON in a comment of its section)."""
    if BEGIN not in text:
        return {}
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    for line in section.splitlines():
        if line.startswith("<!-- figures: "):
            return json.loads(line.removeprefix("<!-- figures: ").removesuffix(" -->"))
    return {}


def figures_table(now: dict[str, str], before: dict[str, str]) -> list[str]:
    lines = ["| figure | target | now | previous bench | before issue 16 |", "|---|---|---|---|---|"]
    for key, (what, target, first) in FIGURES.items():
        lines.append(f"| {what} | {target} | {now.get(key, '-')} | {before.get(key, '-')} | {first} |")
    return lines


def bench(cold_runs: int = 1, runs: int = 3, out: Path = ROOT / "docs" / "benchmarks.md",
          cached_runs: int | None = None) -> str:
    """`cached_runs`: cold runs with the host's image cache kept (default `runs`:
    each is minutes long)."""
    rows: dict[str, list[float]] = {}
    steps_of: dict[str, list[dict]] = {}
    peaks: list[float] = []
    loads: list[float] = []
    others: set[str] = set()

    stalls: dict[str, list[bool]] = {}

    def record(key: str, args: tuple[str, ...]):
        seconds, steps, peak, stalled = invoke(*args)
        if args == ("lab.up",):
            stalls.setdefault(key, []).append(stalled)
        rows.setdefault(key, []).append(seconds)
        peaks.append(peak)
        loads.append(os.getloadavg()[0])
        others.update(other_labs())
        steps_of.setdefault(key, steps)
        print(f"{key}: {seconds:.1f}s", flush=True)

    invoke("lab.destroy")
    time.sleep(2)
    baseline = used_mb()
    reference = [host_reference()]
    stat_at_start = Path("/proc/stat").read_text()
    # A base time measured earlier on this host may be given instead (the
    # debootstrap alone takes minutes when the host is busy).
    given = os.environ.get("LAB_BENCH_BASE_SECONDS")
    base = float(given) if given else base_seconds() if cold_runs else 0.0
    if cold_runs:
        print(f"base (debootstrap + import, apart): {base:.1f}s", flush=True)
    for _ in range(cold_runs):
        invoke("lab.destroy")
        forget_caches(node_image=True)
        record("cold_measured", ("lab.up",))
    for _ in range(runs if cached_runs is None else cached_runs):
        invoke("lab.destroy")
        forget_caches(node_image=False)
        record("cold_cached", ("lab.up",))
    for _ in range(runs):
        invoke("lab.destroy")
        record("warm", ("lab.up",))
    waited = settle() if runs else 0.0
    for _ in range(runs):
        record("noop", ("lab.up",))
    for _ in range(runs):
        record("check", ("lab.check", "--no-drill"))
    settled = used_mb() - baseline
    sizes = image_sizes()
    throughput = api_throughput()
    for _ in range(runs):
        invoke("lab.down")
        record("resume", ("lab.up",))
    steal = stolen(stat_at_start, Path("/proc/stat").read_text())
    settle()
    reference.append(host_reference())
    peak = max(peaks, default=baseline) - baseline
    rows["cold"] = [v + base for v in rows.get("cold_measured", [])]

    # A figure with no run this time (--cold 0, --runs 0) is left out: the
    # table then shows "-" beside the previous bench's value.
    now = {key: f"{summary(rows[key])} s" for key in ("cold", "cold_cached", "warm", "resume", "noop", "check")
           if rows.get(key)}
    now.update({f"size_{name}": f"{mb:.0f} MB" for name, mb in sizes.items()})
    now["host_reference"] = f"{reference[0]:.2f} s"
    existing = out.read_text() if out.exists() else ""
    before = previous_figures(existing)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        "# Benchmarks (docker provider)",
        "",
        f"Measured {date} on {machine()} by `invoke lab.bench` ({cold_runs} cold run(s), "
        f"{len(rows.get('cold_cached', []))} with the image cache kept, {runs} of each other figure; seconds are wall time of the whole command, min / median where several runs).",
        "",
        f"Load average {min(loads):.1f}-{max(loads):.1f} after the commands ({os.cpu_count()} cores; the "
        f"lab's own work included); other labs running: {', '.join(sorted(others)) or 'none'}. The no-op "
        f"and lab.check ran once the host's CPUs were under {SETTLED_BUSY:.0%} busy, {waited:.0f} s after "
        "the last warm lab.up.",
        "",
        *figures_table(now, before),
        "",
        f"\"Cold from nothing\" is the cold `lab.up` measured with this lab's node image and caches removed "
        f"({summary(rows.get('cold_measured', []))} s) plus the Debian base's debootstrap and import, measured apart "
        f"({base:.1f} s): the base and the slim base are shared by every lab on the host, so the bench "
        "does not remove them.",
        "",
        f"Host speed: `lab.bench.host_reference` (a fixed single-thread workload) took {reference[0]:.2f} s "
        f"before the runs and {reference[1]:.2f} s after them (previous bench: "
        f"{before.get('host_reference', 'not measured')}); the hypervisor gave {steal:.1%} of the CPUs' time "
        "to other guests during the bench. Figures from two hosts compare only through this one.",
        "",
        "Engine stalls (Docker 20.10 holds a task 30 s on an unanswered gossip sync, moby/moby#47396; the "
        "stack step names them): " + ", ".join(f"{key.removesuffix('_measured')} {sum(v)} of {len(v)}"
                                                 for key, v in stalls.items()) + ".",
        "",
        f"Host memory in use above the idle host ({baseline:.0f} MB): the whole lab running {settled:.0f} MB "
        f"settled, {peak:.0f} MB peak (goal <= 3072 MB).",
        "",
        f"API through nginx-backend from the host: {throughput}",
        "",
    ]
    for key, label in (("cold_measured", "cold lab.up (node image and caches removed)"),
                       ("warm", "warm lab.up"), ("resume", "resume (lab.up after lab.down)")):
        lines += [f"## Steps of one {label}", "", "| step | outcome | seconds |", "|---|---|---|"]
        lines += [f"| {s['name']} | {s['outcome']} | {s['seconds']:.1f} |" for s in steps_of.get(key, [])]
        lines.append("")
    lines += [f"<!-- figures: {json.dumps(now)} -->", END]
    text = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    if BEGIN in existing:
        head, rest = existing.split(BEGIN, 1)
        rest = rest.split(END, 1)[1] if END in rest else ""
        out.write_text(head + text + rest)
    else:
        out.write_text(text + "\n\n" + existing)
    return text
