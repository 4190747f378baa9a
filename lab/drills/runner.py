"""What every drill shares: preconditions, the journal of changes and their
undo, "nothing lost" counts, the closing line and the run record.

A drill module has NAME and `run(d: Drill) -> str`; the string is its closing
line (what it showed, with numbers). The runner does the rest.
"""
from __future__ import annotations

import json
import signal
import textwrap
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from .. import nodes
from ..runlog import LabError, Run
from ..steps import Context, deploy
from . import journal as journalmod
from . import ledger, state

TEXTS = Path(__file__).with_name("texts.yaml")
LANGUAGES = ("en", "id")
SETTLE_SECONDS = 120


class DrillFailed(LabError):
    """What the drill expected did not happen (read from the swarm)."""


class Interrupts:
    """Ctrl-C during a remote command would be swallowed: Invoke's runner
    catches KeyboardInterrupt, forwards it to the command and goes on
    waiting. Keep it until the command returns, then raise it, so that the
    drill stops and puts the lab back."""

    def __init__(self):
        self.inside = 0
        self.pending = False

    def handler(self, signum, frame):
        if self.inside:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def after_command(self) -> None:
        if self.pending and not self.inside:
            self.pending = False
            raise KeyboardInterrupt


@dataclass
class DrillContext(Context):
    interrupts: Interrupts = field(default_factory=Interrupts)

    @classmethod
    def wrap(cls, ctx: Context) -> "DrillContext":
        return cls(**{f.name: getattr(ctx, f.name) for f in fields(Context)})

    def sh(self, node: str, command: str, **kw):
        self.interrupts.inside += 1
        try:
            return super().sh(node, command, **kw)
        finally:
            self.interrupts.inside -= 1
            self.interrupts.after_command()


def texts(lang: str = "en") -> dict:
    data = yaml.safe_load(TEXTS.read_text())
    return {name: entry[lang] for name, entry in data["drills"].items()} | {"_": data["common"][lang]}


def line_path(config) -> Path:
    """The last line a drill said: the dashboard shows it at the top."""
    return nodes.own_dir(config) / "drill-line.json"


def publish(config, drill: str, text: str) -> None:
    path = line_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"drill": drill, "line": text, "at": time.time()}) + "\n")
    tmp.replace(path)


@dataclass
class Drill:
    name: str
    ctx: Context
    journal: journalmod.Journal
    text: dict
    numbers: dict = field(default_factory=dict)

    @property
    def config(self):
        return self.ctx.config

    @property
    def run(self) -> Run:
        return self.ctx.run

    @property
    def manager(self) -> str:
        return self.config.manager.name

    def m(self, command: str, **kw):
        """A command on the manager, printed as the trainee would type it."""
        return self.ctx.manager_sh(command, **kw)

    def on(self, node: str, command: str, **kw):
        return self.ctx.sh(node, command, **kw)

    def say(self, text: str) -> None:
        self.run.note(text)
        publish(self.config, self.name, text)

    def show(self, command: str) -> str:
        """Run a read-only command on the manager and print its output, as the
        trainee would see it on their own screen."""
        out = self.m(command, check=False).stdout.rstrip()
        for line in out.splitlines():
            self.run.console.print(f"      {line}", markup=False, highlight=False)
        return out

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise DrillFailed(f"{self.name}: {message}",
                              hint="the lab is put back now; `invoke lab.status` shows it, "
                                   "`invoke lab.up` repairs what is left")

    def wait(self, what: str, predicate, seconds: float, every: float = 1.0) -> float:
        """Poll until predicate() is true; the seconds it took. Fails naming `what`."""
        start = time.monotonic()
        limit = seconds * self.ctx.patience
        while True:
            if predicate():
                return round(time.monotonic() - start, 1)
            if time.monotonic() - start > limit:
                raise DrillFailed(f"{self.name}: {what} did not happen within {limit:.0f}s",
                                  hint="the lab is put back now; `invoke lab.up` repairs what is left")
            time.sleep(every)

    def note_number(self, key: str, value) -> None:
        self.numbers[key] = value

    def app_settled(self, avoid: str | None = None) -> bool:
        """Every service of the stack with as many running tasks as the stack
        file asks for, none on `avoid`. Read from the tasks, not from `docker
        stack services`, which still counts the tasks of a node that is being
        drained or is Down."""
        from collections import Counter

        from .. import stack
        prefix = f"{self.config.stack_name}_"
        wanted = stack.expected_replicas(deploy.render(self.ctx), workers=len(self.config.workers))
        tasks = state.stack_tasks(self.ctx)
        counts = Counter(t.service.removeprefix(prefix) for t in tasks if t.running and t.node != avoid)
        return dict(counts) == wanted and len(tasks) == sum(wanted.values())


def lab_is_settled(ctx: Context) -> list[str]:
    """What keeps the lab from being as lab.up leaves it: nodes not Ready and
    Active, a second manager, services short of their replicas."""
    problems = []
    rows = state.node_rows(ctx)
    for n in ctx.config.nodes:
        row = rows.get(n.name)
        if not row or row.get("Status") != "Ready" or row.get("Availability") != "Active":
            problems.append(f"{n.name} is {row.get('Status') if row else 'missing'}/"
                            f"{row.get('Availability') if row else '-'}")
    managers = [h for h, r in rows.items() if r.get("ManagerStatus")]
    if managers != [ctx.config.manager.name]:
        problems.append(f"managers: {', '.join(managers) or 'none'}")
    behind = deploy.lagging(ctx, deploy.render(ctx))
    problems += [f"{k} {v}" for k, v in behind.items()]
    return problems


def settle(ctx: Context, seconds: float = SETTLE_SECONDS) -> list[str]:
    deadline = time.monotonic() + seconds * ctx.patience
    problems = lab_is_settled(ctx)
    while problems and time.monotonic() < deadline:
        time.sleep(ctx.patience)
        problems = lab_is_settled(ctx)
    return problems


def put_back(ctx: Context, jr: journalmod.Journal, why: str) -> list[str]:
    done = journalmod.restore(ctx, jr)
    if done:
        ctx.run.note(f"{why}: {'; '.join(done)}")
    return done


def execute(module, ctx: Context, lang: str = "en") -> dict:
    """Run one drill on a lab that is up; the numbers it measured."""
    ctx = DrillContext.wrap(ctx)
    previous = signal.signal(signal.SIGINT, ctx.interrupts.handler)
    try:
        return _execute(module, ctx, lang)
    finally:
        signal.signal(signal.SIGINT, previous)


def _execute(module, ctx: "DrillContext", lang: str) -> dict:
    config = ctx.config
    all_texts = texts(lang)
    text = all_texts[module.NAME]
    common = all_texts["_"]
    jr = journalmod.Journal(journalmod.journal_path(config))
    d = Drill(module.NAME, ctx, jr, text)
    with ctx.run.step("drill: put back what an earlier drill left") as step:
        done = put_back(ctx, jr, "undone")
        problems = settle(ctx)
        if done:
            step.changed("; ".join(done))
        if problems:
            raise LabError(f"the lab is not as lab.up leaves it: {'; '.join(problems)}",
                           hint="run `invoke lab.up`, then the drill again")
    ctx.run.console.print(f"\n[bold]{text['title']}[/bold]")
    width = max(40, min(ctx.run.console.width, 100) - 2)
    for para in text["explain"].strip().split("\n\n"):
        ctx.run.console.print(textwrap.fill(" ".join(para.split()), width, initial_indent="  ",
                                            subsequent_indent="  "), markup=False)
        ctx.run.console.print("")
    ctx.run.console.print("")
    timeout = 10 * ctx.patience
    with ctx.run.step(f"drill {module.NAME}: {common['count_before']}") as step:
        users, before = ledger.before(config, module.NAME, timeout)
        step.detail = str(before)
    publish(config, module.NAME, text["title"])
    start = time.monotonic()
    closing = None
    try:
        with ctx.run.step(f"drill {module.NAME}") as step:
            closing = module.run(d)
            step.detail = closing
    finally:
        with ctx.run.step(f"drill {module.NAME}: {common['put_back']}") as step:
            done = put_back(ctx, jr, common["put_back"])
            problems = settle(ctx)
            step.detail = "; ".join(done) or "nothing left to undo"
            if problems:
                raise LabError(f"after the drill the lab is not back: {'; '.join(problems)}",
                               hint="run `invoke lab.up`")
    seconds = round(time.monotonic() - start, 1)
    with ctx.run.step(f"drill {module.NAME}: {common['count_after']}") as step:
        after = ledger.count(config, users, timeout)
        step.detail = str(after)
    d.expect(after.users == before.users and after.playlists == before.playlists,
             f"data lost: before {before}, after {after} (missing: {', '.join(after.missing) or '-'})")
    d.numbers.update({"drill": module.NAME, "seconds": seconds, "users": after.users,
                      "playlists": after.playlists})
    (ctx.run.dir / "drill.json").write_text(json.dumps(d.numbers, indent=1) + "\n")
    final = f"{closing}; {common['nothing_lost'].format(count=str(after))}; {seconds:.0f}s"
    publish(config, module.NAME, final)
    ctx.run.console.print(f"\n[bold green]{module.NAME}:[/bold green] {final}")
    ctx.run.log(f"closing: {final}")
    return d.numbers
