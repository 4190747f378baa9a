"""`invoke lab.drill NAME` / `--list`, and the undo that `lab.up` runs."""
from __future__ import annotations

from rich.markup import escape

from .. import nodes
from ..runlog import LabError
from ..steps import Context
from . import DRILLS
from . import journal as journalmod
from .runner import LANGUAGES, execute, put_back, texts


def print_list(console, lang: str) -> None:
    t = texts(lang)
    console.print(t["_"]["list_title"])
    for name in DRILLS:
        console.print(f"  [bold]{name:<15}[/bold] {escape(t[name]['summary'])}")


def drill(path: str, name: str | None, show_list: bool, lang: str) -> None:
    from ..commands import cluster_context, console, lab_run, load_config
    config = load_config(path)
    if lang not in LANGUAGES:
        console.print(f"[red]unknown language {lang!r}[/red]: use one of {', '.join(LANGUAGES)}")
        raise SystemExit(2)
    if show_list:
        print_list(console, lang)
        return
    if name not in DRILLS:
        console.print(f"[red]{'no drill named ' + repr(name) if name else 'name a drill'}[/red]")
        print_list(console, lang)
        raise SystemExit(2)
    with lab_run(config, f"drill.{name}", explain=True) as run:
        cluster = nodes.kept_cluster(config)
        down = nodes.unreachable(cluster, config.nodes) if cluster else [n.name for n in config.nodes]
        stopped_by_a_drill = {e["node"] for e in journalmod.Journal(journalmod.journal_path(config)).entries()
                              if e["undo"] == "node_stop"}
        if config.manager.name in down or set(down) - stopped_by_a_drill:
            raise LabError(f"the lab is not up (no answer from {', '.join(down)})",
                           hint="bring it up with: invoke lab.up")
        ctx = cluster_context(config, cluster, run)
        execute(DRILLS[name], ctx, lang)
        ctx.cluster.close()


def after_up(ctx: Context) -> None:
    """lab.up undoes what an interrupted drill left (a drained or promoted node,
    a scratch service, a changed service) before it checks the stack."""
    jr = journalmod.Journal(journalmod.journal_path(ctx.config))
    if not jr.entries() and not journalmod.scratch_leftovers(ctx):
        return
    with ctx.run.step("drills: undo what an interrupted drill left") as step:
        step.changed("; ".join(put_back(ctx, jr, "undone")))
