"""Work that overlaps, output that does not.

lab.up's steps form a small graph (lab/steps/order.py): the registry and the
image builds need the manager's engine, not a swarm; the export needs no
registry. `run_jobs` starts each job on a thread of its own as soon as the
jobs it needs are done, and hands what each printed and recorded to the run
in the list's order, the tutorial's, once it and every job before it are
done: the output reads as if the steps had run one after another, and every
line still says which step it is. While jobs run, a status line names them.

A job that fails stops new ones from starting; those running finish, the
output of every finished job is given in order, and the first failure (in
the list's order) is raised.
"""
from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from .runlog import FAILED, Run, Step


@dataclass(frozen=True)
class Job:
    key: str
    work: Callable[[Run], None]  # given a Buffered run to print and record into
    needs: tuple[str, ...] = ()


class _Quiet:
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Buffered(Run):
    """A run for one job on its own thread: it writes the run's log at once
    (shared, line by line), and keeps its printed lines and step records
    until `hand_over` gives them to the run it came from."""

    def __init__(self, parent: Run):  # noqa: super().__init__ would start a new record
        self.parent = parent
        for name in ("lab", "command", "dir", "log_path", "started", "explain", "_secrets", "_log", "_lock"):
            setattr(self, name, getattr(parent, name))
        self._out = io.StringIO()
        shown = parent.console
        self.console = Console(file=self._out, force_terminal=shown.is_terminal, color_system=shown.color_system,
                               width=shown.width, no_color=shown.no_color, highlight=False, soft_wrap=True)
        self._records = io.StringIO()
        self.steps = []
        self.result = "running"

    def _live(self, name: str):
        # The status line is the coordinator's; teaching mode prints the name.
        return None if self.explain else _Quiet()

    def _write_meta(self) -> None:
        pass  # run.json is the parent's

    def hand_over(self) -> None:
        text = self._out.getvalue().rstrip("\n")
        if text:
            self.parent.console.print(Text.from_ansi(text), soft_wrap=True, highlight=False)
        self.parent._records.write(self._records.getvalue())
        self.parent.steps.extend(self.steps)
        self._out = io.StringIO()
        self.console.file = self._out
        self._records = io.StringIO()
        self.steps = []


def check_order(jobs: list[Job]) -> None:
    """Each job may need only jobs listed before it: the graph has no cycle,
    and the printed order is one the work can follow."""
    seen = set()
    for job in jobs:
        unknown = [n for n in job.needs if n not in seen]
        if unknown:
            raise ValueError(f"job {job.key!r} needs {unknown}, not listed before it")
        if job.key in seen:
            raise ValueError(f"job {job.key!r} is listed twice")
        seen.add(job.key)


def run_jobs(run: Run, jobs: list[Job], at_once: int | None = None) -> None:
    """Run the jobs, each as soon as what it needs is done, at most `at_once`
    together (None: no bound); their output reaches `run` in the list's order."""
    check_order(jobs)
    limit = at_once or len(jobs) or 1
    cond = threading.Condition()
    state = {job.key: "waiting" for job in jobs}
    errors: dict[str, BaseException] = {}
    views: dict[str, Buffered] = {}
    started: dict[str, float] = {}

    def start(job: Job) -> None:
        view = views[job.key] = Buffered(run)
        state[job.key] = "running"
        started[job.key] = time.time()

        def body():
            failure = None
            try:
                job.work(view)
            except BaseException as exc:  # noqa: BLE001 - given to the caller's thread below
                failure = exc
            with cond:
                state[job.key] = "failed" if failure else "done"
                if failure:
                    errors[job.key] = failure
                cond.notify_all()

        threading.Thread(target=body, name=f"lab-{job.key}", daemon=True).start()

    # One status line for all, on the run the user watches (not in teaching
    # mode, which prints each command as it is given; not inside another job).
    status = None
    if not run.explain and not isinstance(run, Buffered):
        status = run.console.status("")
        status.start()
    handed = 0
    try:
        with cond:
            while True:
                if not errors:
                    for job in jobs:
                        if sum(1 for s in state.values() if s == "running") >= limit:
                            break
                        if state[job.key] == "waiting" and all(state[n] == "done" for n in job.needs):
                            start(job)
                while handed < len(jobs) and state[jobs[handed].key] in ("done", "failed"):
                    views[jobs[handed].key].hand_over()
                    handed += 1
                running = [job.key for job in jobs if state[job.key] == "running"]
                if not running:
                    break
                if status:
                    status.update(escape("working on: " + ", ".join(running) + " ..."))
                cond.wait(timeout=1)
    except BaseException:
        # Ctrl-C (or any error of this thread): what finished is told, in order,
        # and each job still running is recorded as a failed step, as a step
        # that runs alone is; their threads end with the process.
        if status:
            status.stop()
            status = None
        with cond:
            for job in jobs[handed:]:
                if state[job.key] == "running":
                    run._finish(Step(job.key, outcome=FAILED, detail="interrupted", started=started[job.key]))
                elif state[job.key] in ("done", "failed"):
                    views[job.key].hand_over()
        raise
    finally:
        if status:
            status.stop()
    # Stopped by a failure: the jobs that finished after it are handed over too,
    # so nothing done is left unsaid, then the first failure in the list's order.
    for job in jobs[handed:]:
        if state[job.key] in ("done", "failed"):
            views[job.key].hand_over()
    for job in jobs:
        if job.key in errors:
            raise errors[job.key]
