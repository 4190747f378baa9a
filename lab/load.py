"""invoke lab.load: mixed traffic through the lab's 127.0.0.1 forwards, the
rate stepped up until the app answers a 5xx (or cannot keep the pace), then a
timed run at the highest rate it held.

Open loop: requests are sent on a fixed schedule by a bounded pool of
threads, so a slow answer does not slow the sender down (a closed loop would
hide saturation). Every run is bounded in time and request count and only
ever talks to 127.0.0.1.
"""
from __future__ import annotations

import http.client
import json
import random
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .background import Every
from .config import LabConfig
from .host import meminfo_mib

# (kind, weight): what a class of trainees clicking around does, mostly reads.
MIX = (("page", 25), ("albums", 15), ("songs", 15), ("playlists", 15), ("playlist_songs", 10),
       ("add_song", 8), ("remove_song", 7), ("login", 5))
USERS = 6
MAX_THREADS = 64
TIMEOUT = 10.0


@dataclass
class Result:
    kind: str
    status: int  # 0: no answer (connection refused, reset, timeout)
    seconds: float


@dataclass
class Stats:
    rate: float
    seconds: float
    results: list[Result] = field(default_factory=list)
    lag: float = 0.0  # how far the sender fell behind its schedule at the end
    planned: int = 0
    memory: dict = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return len(self.results)

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def count(self, test) -> int:
        return sum(1 for r in self.results if test(r.status))

    @property
    def errors_5xx(self) -> int:
        return self.count(lambda s: s >= 500)

    @property
    def no_answer(self) -> int:
        return self.count(lambda s: s == 0)

    def percentile(self, p: float) -> float:
        times = sorted(r.seconds for r in self.results)
        if not times:
            return 0.0
        # rank rounded up: p99 of fewer than 100 requests is the slowest
        return times[min(len(times) - 1, max(0, -(-len(times) * p // 100) - 1))]

    def held(self) -> bool:
        """No 5xx, everything answered, and the sender kept its schedule
        (a saturated lab shows as lag: the threads were all waiting)."""
        return (self.errors_5xx == 0 and self.no_answer == 0 and self.sent > 0
                and self.sent >= self.planned and self.lag < 1.0)

    def line(self) -> str:
        statuses: dict[int, int] = {}
        for r in self.results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        shown = ", ".join(f"{k or 'none'}: {v}" for k, v in sorted(statuses.items()))
        failed = sorted({r.kind for r in self.results if r.status >= 500 or r.status == 0})
        if failed:
            shown += f"; failed: {', '.join(failed)}"
        return (f"{self.rate:.0f}/s asked: {self.achieved:.1f}/s sent in {self.seconds:.0f}s, "
                f"p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms, "
                f"5xx {self.errors_5xx}, no answer {self.no_answer}, lag {self.lag:.1f}s ({shown})")


class Client:
    """One keep-alive connection per thread and origin; loopback only."""

    def __init__(self, web_url: str, api_url: str):
        self.origins = {"web": urlsplit(web_url), "api": urlsplit(api_url)}
        for o in self.origins.values():
            if o.hostname != "127.0.0.1":
                raise ValueError(f"lab.load only talks to 127.0.0.1, not {o.hostname}")
        self.local = threading.local()

    def conn(self, origin: str) -> http.client.HTTPConnection:
        conns = self.local.__dict__.setdefault("conns", {})
        if origin not in conns:
            o = self.origins[origin]
            conns[origin] = http.client.HTTPConnection(o.hostname, o.port, timeout=TIMEOUT)
        return conns[origin]

    def request(self, origin: str, method: str, path: str, body=None, token=None) -> tuple[int, dict | None]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            conn = self.conn(origin)
            try:
                conn.request(method, path, body=data, headers=headers)
                answer = conn.getresponse()
                raw = answer.read()
                if answer.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.local.conns.pop(origin)
                try:
                    parsed = json.loads(raw) if raw and origin == "api" else None
                except ValueError:
                    parsed = None
                return answer.status, parsed
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                self.local.conns.pop(origin)
                # A keep-alive connection the server closed while idle: one
                # fresh connection, counted as a failure only if that fails too.
                if attempt == 2:
                    raise exc
            except OSError:
                conn.close()
                self.local.conns.pop(origin)
                raise
        raise AssertionError("unreachable")


@dataclass
class User:
    username: str
    password: str
    token: str
    playlist: str


class Load:
    def __init__(self, config: LabConfig, seed: int = 1):
        self.config = config
        self.client = Client(config.web_url, config.api_url)
        self.random = random.Random(seed)
        self.users: list[User] = []
        self.songs: list[str] = []
        self.kinds = [k for k, w in MIX for _ in range(w)]

    def paced(self, method: str, path: str, body: dict, seconds: float = 60) -> tuple[int, dict | None]:
        """A request to a rate-limited route, waiting out 429s (bounded)."""
        deadline = time.monotonic() + seconds
        while True:
            status, data = self.client.request("api", method, path, body)
            if status != 429 or time.monotonic() > deadline:
                return status, data
            time.sleep(1)

    def setup(self) -> None:
        """Users with a token and a playlist, and songs to put in them."""
        tag = secrets.token_hex(3)
        for i in range(USERS):
            name, password = f"load{tag}{i}", "load-" + secrets.token_hex(6)
            status, data = self.paced("POST", "/users", {"username": name, "password": password,
                                                         "fullname": f"Load {i}"})
            if status != 201:
                raise RuntimeError(f"register {name}: {status} {data}")
            status, data = self.paced("POST", "/authentications", {"username": name, "password": password})
            if status != 201:
                raise RuntimeError(f"login {name}: {status} {data}")
            token = data["data"]["accessToken"]
            status, data = self.client.request("api", "POST", "/playlists", {"name": f"load {i}"}, token)
            if status != 201:
                raise RuntimeError(f"playlist of {name}: {status} {data}")
            self.users.append(User(name, password, token, data["data"]["playlistId"]))
        token = self.users[0].token
        for i in range(10):
            status, data = self.client.request("api", "POST", "/songs", {
                "title": f"load song {tag} {i}", "year": 2000 + i, "genre": "test",
                "performer": "lab.load", "duration": 120}, token)
            if status != 201:
                raise RuntimeError(f"song {i}: {status} {data}")
            self.songs.append(data["data"]["songId"])

    def one(self, kind: str) -> Result:
        user = self.random.choice(self.users)
        song = self.random.choice(self.songs)
        start = time.monotonic()
        try:
            if kind == "page":
                status, _ = self.client.request("web", "GET", "/")
            elif kind == "albums":
                status, _ = self.client.request("api", "GET", "/albums")
            elif kind == "songs":
                status, _ = self.client.request("api", "GET", "/songs?performer=lab.load")
            elif kind == "playlists":
                status, _ = self.client.request("api", "GET", "/playlists", token=user.token)
            elif kind == "playlist_songs":
                status, _ = self.client.request("api", "GET", f"/playlists/{user.playlist}/songs", token=user.token)
            elif kind == "add_song":
                status, _ = self.client.request("api", "POST", f"/playlists/{user.playlist}/songs",
                                                {"songId": song}, user.token)
                status = 200 if status == 400 else status  # already in the playlist: a normal refusal
            elif kind == "remove_song":
                status, _ = self.client.request("api", "DELETE", f"/playlists/{user.playlist}/songs",
                                                {"songId": song}, user.token)
                status = 200 if status in (400, 404) else status  # not in it: a normal refusal
            else:
                status, _ = self.client.request("api", "POST", "/authentications",
                                                {"username": user.username, "password": user.password})
        except OSError:
            status = 0
        return Result(kind, status, time.monotonic() - start)

    def run(self, rate: float, seconds: float) -> Stats:
        """`rate` requests a second for `seconds` (at most rate*seconds requests)."""
        total = int(rate * seconds)
        stats = Stats(rate, seconds, planned=total)
        lock = threading.Lock()
        kinds = [self.random.choice(self.kinds) for _ in range(total)]

        def send(kind):
            result = self.one(kind)
            with lock:
                stats.results.append(result)

        start = time.monotonic()
        with ThreadPoolExecutor(MAX_THREADS) as pool, MemoryWatch(self.config.name) as mem:
            for i, kind in enumerate(kinds):
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                # A pool that cannot keep up shows as lag, not as a slower rate.
                while pool._work_queue.qsize() > MAX_THREADS:
                    time.sleep(0.005)
                pool.submit(send, kind)
            stats.lag = max(0.0, time.monotonic() - (start + total / rate))
        # The pool has waited for the last answers: the rate is over the whole span.
        stats.seconds = max(seconds, time.monotonic() - start)
        stats.memory = mem.result()
        return stats


def lab_memory_mib(name: str) -> float | None:
    """Memory of the lab's node containers and the containers inside them
    (cgroup v1: the inner ones sit beside the nodes', not inside)."""
    import subprocess

    root = Path("/sys/fs/cgroup/memory/docker")
    if not root.is_dir():
        return None
    nodes = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"name=^{name}-"],
                           capture_output=True, text=True, timeout=30)
    if nodes.returncode != 0 or not nodes.stdout.split():
        return None
    ids = nodes.stdout.split()
    for node in list(ids):
        inner = subprocess.run(["docker", "exec", node, "docker", "ps", "-q", "--no-trunc"],
                               capture_output=True, text=True, timeout=30)
        ids += inner.stdout.split() if inner.returncode == 0 else []
    total = 0
    for cid in ids:
        usage = root / cid / "memory.usage_in_bytes"
        if usage.exists():
            total += int(usage.read_text())
    return total / 2**20


class MemoryWatch(Every):
    """Peak and mean of the host's memory in use, and the lab's own, every 2 s."""

    interval = 2.0

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.host: list[float] = []
        self.lab: list[float] = []

    def sample(self):
        info = meminfo_mib()
        self.host.append(info["MemTotal"] - info["MemAvailable"])
        lab = lab_memory_mib(self.name)
        if lab is not None:
            self.lab.append(lab)

    def result(self) -> dict:
        out = {}
        for key, values in (("host_mib", self.host), ("lab_mib", self.lab)):
            if values:
                out[key] = {"mean": statistics.fmean(values), "peak": max(values)}
        return out


def find_and_hold(config: LabConfig, rates: list[float], step_seconds: float, hold_seconds: float,
                  out: Path | None = None) -> dict:
    """Step through `rates` until one does not hold, then run `hold_seconds`
    at the highest that did (a 5xx there is reported, not hidden)."""
    load = Load(config)
    load.setup()
    steps = []
    best = None
    for rate in rates:
        stats = load.run(rate, step_seconds)
        steps.append(stats)
        print("step  " + stats.line(), flush=True)
        if not stats.held():
            break
        best = rate
        time.sleep(2)
    if best is None:
        raise SystemExit(f"the lab did not hold even {rates[0]}/s: {steps[0].line()}")
    # A short step can pass where a long run does not (queues fill, a busy
    # host): hold each rate that passed, highest first, until one holds.
    holds = []
    for rate in sorted((s.rate for s in steps if s.held()), reverse=True):
        time.sleep(5)
        hold = load.run(rate, hold_seconds)
        holds.append(hold)
        print("hold  " + hold.line(), flush=True)
        if hold.held():
            break
    best = hold.rate
    report = {
        "rates_tried": [s.rate for s in steps], "steps": [s.line() for s in steps],
        "holds": [h.line() for h in holds], "held": hold.held(), "best_rate": best, "hold": {
            "rate": best, "seconds": hold.seconds, "sent": hold.sent, "requests_per_s": hold.achieved,
            "p50_ms": hold.percentile(50) * 1000, "p99_ms": hold.percentile(99) * 1000,
            "errors_5xx": hold.errors_5xx, "no_answer": hold.no_answer,
            "status_429": hold.count(lambda s: s == 429), "memory": hold.memory,
            "failed_by_kind": {k: sum(1 for r in hold.results if r.kind == k and (r.status >= 500 or r.status == 0))
                               for k, _ in MIX},
            "by_kind_p99_ms": {k: round(Stats(0, 1, [r for r in hold.results if r.kind == k]).percentile(99) * 1000)
                               for k, _ in MIX}},
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return report


def main(path: str, rates: str, step_seconds: float, hold_seconds: float) -> None:
    from .commands import load_config
    from .nodes import own_dir

    config = load_config(path)
    try:
        steps = sorted(float(r) for r in rates.split(","))
    except ValueError:
        raise SystemExit(f"--rates: a comma-separated list of requests per second, not {rates!r}")
    if not steps or steps[0] <= 0 or steps[-1] > 2000:
        raise SystemExit("--rates: each rate between 1 and 2000 requests per second")
    if not (1 <= step_seconds <= 120 and 1 <= hold_seconds <= 600):
        raise SystemExit("--step-seconds 1-120 and --seconds 1-600")
    out = own_dir(config) / "load.json"
    report = find_and_hold(config, steps, step_seconds, hold_seconds, out)
    h = report["hold"]
    print(f"highest rate {'held' if report['held'] else 'tried (none held)'}: {report['best_rate']:.0f}/s; "
          f"{hold_seconds:.0f}s there: "
          f"{h['requests_per_s']:.1f} requests/s, p50 {h['p50_ms']:.0f} ms, p99 {h['p99_ms']:.0f} ms, "
          f"5xx {h['errors_5xx']} (written to {out})")
