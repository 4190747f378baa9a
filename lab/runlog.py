"""Progress lines and run records.

One line per step, the way kind shows it: a spinner while the step runs, then
a tick (or a cross) with its outcome and seconds. Every run also leaves a
directory under .lab/runs/ with a JSON line per step and the full log, so a
trainer can see afterwards what happened and how long it took.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from . import statefiles

OK, CHANGED, FAILED, SKIPPED = "ok", "changed", "failed", "skipped"
# A swarm join token in any output (`docker swarm init` prints the worker's),
# masked even before the lab knows its value.
SWARM_TOKEN = re.compile(r"SWMTKN-1-[0-9A-Za-z]+-[0-9A-Za-z]+")


class LabError(RuntimeError):
    """A failure the lab explains: what failed, where, and what to do next."""

    def __init__(self, message: str, *, command: str | None = None, node: str | None = None,
                 output: str = "", hint: str | None = None):
        super().__init__(message)
        self.command = command
        self.node = node
        self.output = output
        self.hint = hint

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


@dataclass
class Step:
    name: str
    node: str | None = None
    outcome: str = OK
    stand_in: str | None = None
    detail: str | None = None
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def changed(self, detail: str | None = None) -> None:
        self.outcome = CHANGED
        if detail:
            self.detail = detail

    def standing_in(self, what: str) -> None:
        self.stand_in = what


class Run:
    """One invocation of the lab (lab.up, lab.check, ...) and its record."""

    def __init__(self, state_dir: Path, command: str, *, explain: bool = False,
                 console: Console | None = None, lab: str | None = None):
        self.lab = lab
        self.started = datetime.now(timezone.utc)
        stamp = self.started.strftime("%Y%m%dT%H%M%S.%fZ")
        self.dir = state_dir / "runs" / f"{stamp}-{command.replace('.', '-')}"
        # .lab holds secrets, SSH settings and logs that name them: its owner only.
        statefiles.private_dir(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.command = command
        self.explain = explain or os.environ.get("LAB_EXPLAIN") == "1"
        self.console = console or Console(highlight=False)
        self.log_path = self.dir / "run.log"
        self._log = open(self.log_path, "a", buffering=1, opener=statefiles.private_opener)
        self._records = open(self.dir / "steps.jsonl", "a", buffering=1, opener=statefiles.private_opener)
        # Jobs on other threads (lab/overlap.py) write the same log.
        self._lock = threading.Lock()
        self.steps: list[Step] = []
        self._secrets: dict[str, str] = {}
        self.result = "running"
        self._write_meta()
        # runs/latest: the newest run of any lab; runs/latest-<lab>: of this one.
        for name in ["latest"] + ([f"latest-{lab}"] if lab else []):
            link = state_dir / "runs" / name
            tmp = link.with_name(f".{name}.{os.getpid()}")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.dir.name)
            os.replace(tmp, link)

    def _write_meta(self) -> None:
        statefiles.write_atomic(self.dir / "run.json", json.dumps({
            "command": self.command,
            "lab": self.lab,
            "started": self.started.isoformat(),
            "updated": datetime.now(timezone.utc).isoformat(),
            "result": self.result,
            "steps": len(self.steps),
        }, indent=2) + "\n")

    def hide(self, value: str, label: str) -> None:
        """From now on `value` is written as `label` in everything this run
        logs, records or prints (a join token: "<worker token>")."""
        if value:
            self._secrets[value] = label

    def masked(self, text: str) -> str:
        for value, label in self._secrets.items():
            text = text.replace(value, label)
        return SWARM_TOKEN.sub("<swarm token>", text)

    def log(self, text: str) -> None:
        text = self.masked(text)
        with self._lock:
            self._log.write(text if text.endswith("\n") else text + "\n")

    def show_command(self, node: str, command: str) -> None:
        """Teaching mode: the exact command, where it runs, to type by hand."""
        self.log(f"[{node}]$ {command}")
        if self.explain:
            self.console.print(f"    [dim]{escape(node)}$[/dim] [cyan]{escape(self.masked(command))}[/cyan]")

    def note(self, text: str) -> None:
        self.log(text)
        self.console.print(f"    {escape(self.masked(text))}")

    @contextmanager
    def step(self, name: str, node: str | None = None):
        step = Step(name, node)
        start = time.monotonic()
        status = self._live(name)
        if status:
            status.start()
        else:
            self.console.print(f"[bold]{escape(name)}[/bold]")
        try:
            yield step
        except BaseException as exc:
            step.outcome = FAILED
            step.detail = str(exc) or type(exc).__name__
            raise
        finally:
            if status:
                status.stop()
            step.seconds = round(time.monotonic() - start, 2)
            self._finish(step)

    def _live(self, name: str):
        """A spinner while the step runs; teaching mode prints the step's name
        instead, before the commands it shows."""
        return None if self.explain else self.console.status(f"{escape(name)} ...")

    def _finish(self, step: Step) -> None:
        if step.detail:
            step.detail = self.masked(step.detail)
        self.steps.append(step)
        record = {
            "name": step.name,
            "node": step.node,
            "start": datetime.fromtimestamp(step.started, timezone.utc).isoformat(),
            "seconds": step.seconds,
            "outcome": step.outcome,
            "stand_in": step.stand_in,
            "detail": step.detail,
        }
        self._records.write(json.dumps(record) + "\n")
        self.log(f"step {step.name}: {step.outcome} in {step.seconds}s")
        mark = "[red]✗[/red]" if step.outcome == FAILED else "[green]✓[/green]"
        extra = f", stand-in: {step.stand_in}" if step.stand_in else ""
        detail = f" — {step.detail}" if step.detail and step.outcome != FAILED else ""
        self.console.print(
            f"{mark} {escape(step.name)} [dim]({step.outcome}{escape(extra)}, {step.seconds:.1f}s)[/dim]{escape(detail)}"
        )

    def fail(self, error: LabError) -> None:
        """Print what failed, the tail of its output and where the full log is."""
        self.result = "failed"
        self._write_meta()
        where = f" on {error.node}" if error.node else ""

        def show(text: str) -> str:
            return escape(self.masked(text))

        self.console.print(f"[red bold]error{escape(where)}:[/red bold] {show(str(error))}")
        if error.command:
            self.console.print(f"  command: [cyan]{show(error.command)}[/cyan]")
        if error.output:
            self.console.print("  last lines of its output:")
            for line in error.tail().splitlines():
                self.console.print(f"    {show(line)}", soft_wrap=True)
        if error.hint:
            self.console.print(f"  next: {show(error.hint)}")
        self.console.print(f"  full log: {self.log_path}")
        self.log(f"FAILED: {error}\ncommand: {error.command}\n{error.output}")

    def finish(self, result: str = "ok") -> None:
        self.result = result
        self._write_meta()
        self._log.close()
        self._records.close()


def read_steps(run_dir: Path) -> list[dict]:
    path = run_dir / "steps.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
