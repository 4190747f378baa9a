"""`invoke lab.dashboard`: the swarm on a projector. A page on 127.0.0.1 with
a column per node and a card per task, redrawn every second from what the
manager answers over the lab's own SSH connection."""
from __future__ import annotations

import json
import shlex
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import host, nodes
from .drills import runner
from .drills.state import SNAPSHOT_SCRIPT, parse_snapshot
from .runlog import Run

PAGE = Path(__file__).parent / "web" / "dashboard.html"
POLL_SECONDS = 1.0


def view(config, node_rows: list[dict], tasks, line: dict | None) -> dict:
    """What the page draws: the lab's nodes in lab.yaml's order, each with
    its swarm status and the tasks the swarm means to run there."""
    rows = {r["Hostname"]: r for r in node_rows}
    prefix = f"{config.stack_name}_"
    columns = []
    for n in config.nodes:
        row = rows.get(n.name, {})
        mine = [t for t in tasks if t.node == n.name]
        columns.append({
            "name": n.name,
            "role": "manager" if row.get("ManagerStatus") else ("worker" if row else n.role),
            "manager_status": row.get("ManagerStatus", ""),
            "availability": row.get("Availability", "unknown"),
            "status": row.get("Status", "unknown"),
            "tasks": [{"service": t.service.removeprefix(prefix), "stack": t.service.startswith(prefix),
                       "slot": t.slot if len(t.slot) < 12 else "", "state": t.state, "image": t.image.split("@")[0]}
                      for t in sorted(mine, key=lambda t: (not t.service.startswith(prefix), t.service, t.slot))],
        })
    return {"lab": config.name, "stack": config.stack_name, "nodes": columns, "line": line}


class Poller:
    """Asks the manager for the whole picture once per POLL_SECONDS; keeps the
    last answer (and says how old it is) when the manager does not answer."""

    def __init__(self, config):
        self.config = config
        self.state: dict = {"nodes": [], "line": None, "error": "starting", "updated": None}
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def poll_once(self, cluster) -> None:
        line_file = runner.line_path(self.config)
        line = json.loads(line_file.read_text()) if line_file.exists() else None
        result = cluster.manager.run(f"sudo -n sh -c {shlex.quote(SNAPSHOT_SCRIPT)}", hide=True, warn=True,
                                     timeout=10)
        if not result.ok:
            raise RuntimeError(result.stderr.strip() or f"exit {result.return_code}")
        node_rows, tasks = parse_snapshot(result.stdout)
        data = view(self.config, node_rows, tasks, line)
        data.update(error=None, updated=time.time())
        with self._lock:
            self.state = data

    def loop(self) -> None:
        cluster = None
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                # A drill that stops and starts a node may change the SSH
                # settings lab.up keeps: read them again after a failure.
                cluster = cluster or nodes.kept_cluster(self.config)
                if cluster is None:
                    raise RuntimeError("the lab is not up: run `invoke lab.up`")
                self.poll_once(cluster)
            except Exception as exc:  # noqa: BLE001 - shown on the page, retried next second
                with self._lock:
                    self.state = dict(self.state, error=f"the manager did not answer: {exc}")
                if cluster:
                    cluster.close()
                cluster = None
            self._stop.wait(max(0.1, POLL_SECONDS - (time.monotonic() - start)))
        if cluster:
            cluster.close()

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.state)

    def stop(self) -> None:
        self._stop.set()


def handler_for(poller: Poller):
    page = PAGE.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/state":
                body, kind = json.dumps(poller.snapshot()).encode(), "application/json"
            elif self.path in ("/", "/index.html"):
                body, kind = page, "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def _stop(signum, frame):
    raise KeyboardInterrupt


def serve(path: str, port: int | None = None) -> None:
    from .commands import console, load_config
    config = load_config(path)
    port = port or config.host_ports.dashboard
    if nodes.kept_cluster(config) is None:
        console.print("[red]the lab is not up[/red]: run `invoke lab.up` first")
        raise SystemExit(1)
    if not host.port_free(port):
        console.print(f"[red]host_ports.dashboard: 127.0.0.1:{port} is already in use[/red]: "
                      "stop what holds it or choose another port in the lab file (or --port)")
        raise SystemExit(1)
    poller = Poller(config)
    threading.Thread(target=poller.loop, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(poller))
    # A run folder of its own: screenshots of the view are kept there.
    run = Run(nodes.state_dir(config), "dashboard", console=console, lab=config.name)
    run.note(f"dashboard of {config.name}: http://127.0.0.1:{port}/  (Ctrl-C stops it)")
    run.note(f"run folder: {run.dir}")
    # Ctrl-C or a plain kill stops it; a shell that starts it in the
    # background would otherwise leave SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        poller.stop()
        server.server_close()
        run.finish("ok")
