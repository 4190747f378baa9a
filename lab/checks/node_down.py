"""lab.check with a node that does not answer: say which and what the swarm
thinks of it, run every check that still can, say whether the app answers,
and name the repair. Only a silent manager (nothing can be asked) or a lab
that was never brought up stops lab.check before its checks."""
from __future__ import annotations

from .. import nodes
from ..runlog import LabError
from ..steps import Context
from .http import request

REPAIR = "invoke lab.up"


def cluster_and_down(config) -> tuple[nodes.Cluster, list[str]]:
    c = nodes.kept_cluster(config)
    down = nodes.unreachable(c, config.nodes) if c else [n.name for n in config.nodes]
    if c is None or config.manager.name in down:
        raise LabError(f"the lab is not up (no answer from {', '.join(down)})",
                       hint=f"bring it up with: {REPAIR}")
    return c, down


def swarm_view(ctx: Context) -> dict[str, dict]:
    from ..steps import swarm
    return {r["Hostname"]: r for r in swarm.node_list(ctx)}


def report(ctx: Context, down: list[str]) -> None:
    rows = swarm_view(ctx)
    for name in down:
        row = rows.get(name)
        seen = f"swarm: {row.get('Status')}, {row.get('Availability')}" if row else "swarm: not listed"
        ctx.run.console.print(f"[red bold]{name} does not answer[/red bold] ({seen})")
        ctx.run.log(f"{name} does not answer ({seen})")
    ctx.run.note("the data-move drill is skipped: it needs every worker")


def app_answers(ctx: Context) -> tuple[bool, str]:
    answers = []
    for what, url in (("login page", f"{ctx.config.web_url}login"), ("API", f"{ctx.config.api_url}health")):
        try:
            answers.append((what, request("GET", url, timeout=5).status))
        except OSError as exc:
            answers.append((what, type(exc).__name__))
    ok = all(code == 200 for _, code in answers)
    return ok, ", ".join(f"{what} {code}" for what, code in answers)


def conclude(ctx: Context, down: list[str], outcomes) -> None:
    ok, detail = app_answers(ctx)
    verdict = "yes" if ok else "no"
    ctx.run.console.print(f"the app still answers: [bold]{verdict}[/bold] ({detail})")
    ctx.run.log(f"the app still answers: {verdict} ({detail})")
    failed = [o.name for o in outcomes if not o.ok]
    raise LabError(f"{len(down)} node(s) do not answer: {', '.join(down)}; "
                   f"{len(outcomes) - len(failed)} of {len(outcomes)} checks passed"
                   + (f" (failed: {'; '.join(failed)})" if failed else ""),
                   hint=f"repair: {REPAIR} (it starts the stopped node and rejoins it)")
