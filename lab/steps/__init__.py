"""One module per tutorial step. Each follows `Step` (below): three parts,
and a fourth where the lab stands in for something:

- check(ctx): reads the real state and returns what is missing (empty: done).
  It runs on its own too, so it can verify a trainee who did the step by hand.
- apply(ctx, step): changes only what check found missing.
- teach(ctx): what a trainee would type, as (node, command), shown in
  teaching mode even when the step has nothing left to do. Guided practice
  shows the same list as the step's solution, and its tests type it.

- stand_in(ctx) (optional): what the lab does instead of the tutorial here
  and why (a kernel without NFS), or None.

The order of the steps is written once, in lab/steps/order.py.

A check's findings are Problems: each reads as English text (run logs,
lab.up's errors) and carries the key of its message, so guided practice can
say the same thing in the trainee's language.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from .. import texts
from ..config import LabConfig
from ..nodes import Cluster
from ..probe import Capabilities
from ..remote import sh
from ..runlog import LabError, Run


class Problem(str):
    """One thing a check found missing or wrong, on one node (or none)."""

    key: str
    node: str | None
    params: dict

    def __new__(cls, key: str, node: str | None = None, **params):
        self = super().__new__(cls, texts.message(key, "en", node=node, **params))
        self.key, self.node, self.params = key, node, params
        return self

    def say(self, lang: str) -> str:
        return texts.message(self.key, lang, node=self.node, **self.params)


@dataclass
class Context:
    config: LabConfig
    cluster: Cluster
    caps: Capabilities
    run: Run
    resolver: str
    state_dir: Path
    # How many times longer than on containers the lab's waits may last
    # (convergence, the data-move drill): > 1 for VMs that run emulated.
    patience: float = 1.0

    def sh(self, node: str, command: str, **kw):
        return sh(self.run, self.cluster[node], node, command, **kw)

    def manager_sh(self, command: str, **kw):
        return self.sh(self.config.manager.name, command, **kw)


@runtime_checkable
class Step(Protocol):
    """The contract of a step module (a module, not a class, satisfies it)."""

    NAME: str

    def check(self, ctx: Context) -> list[str]:
        """What is missing (Problems); empty when the step is done."""

    def apply(self, ctx: Context, step, missing: list[str]) -> None:
        """Change only what check found missing."""

    def teach(self, ctx: Context) -> list[tuple[str, str]]:
        """What a trainee would type, as (node, command)."""


def targets(ctx: Context, node: str) -> list[str]:
    """The nodes a taught line is typed on ("every node", "every worker", a name, "host")."""
    if node == "every node":
        return [n.name for n in ctx.config.nodes]
    if node == "every worker":
        return [n.name for n in ctx.config.workers]
    return [node]


def type_solution(ctx: Context, lines: list[tuple[str, str]]) -> None:
    """Apply a step that is only typing: its taught lines, as the trainee's user."""
    for node, command in lines:
        for name in targets(ctx, node):
            if name != "host":
                ctx.sh(name, command, sudo=False)


def converge(ctx: Context, module: Step) -> None:
    """check -> apply what is missing -> check again; one status line."""
    with ctx.run.step(module.NAME) as step:
        stand_in = getattr(module, "stand_in", None)
        if stand_in and stand_in(ctx):
            step.standing_in(stand_in(ctx))
        why = getattr(module, "why", None)
        reason = why(ctx, os.environ.get("LAB_LANG", "en")) if why and ctx.run.explain else None
        if reason:
            # Where the lab parts from the course on purpose, teaching mode says why.
            ctx.run.note(reason)
        missing = module.check(ctx)
        if not missing:
            if ctx.run.explain:
                ctx.run.console.print("    [dim]already done; by hand it is:[/dim]")
                for node, command in module.teach(ctx):
                    ctx.run.show_command(node, command)
            return
        ctx.run.log(f"{module.NAME}: missing: {'; '.join(missing)}")
        module.apply(ctx, step, missing)
        step.changed(step.detail or "; ".join(missing))
        still = module.check(ctx)
        if still:
            raise LabError(f"{module.NAME}: still not done after applying: {'; '.join(still)}",
                           hint="see the full log; run the command again to retry")
