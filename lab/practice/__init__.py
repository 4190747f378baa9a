"""Guided practice: the trainee types every step of the module by hand; the
lab verifies each one from real state, gives hints, and solves a step for a
trainee who is stuck.

Built on the step contract (lab/steps): a step's check is the verifier, its
teach is the solution shown (and typed by the tests), its apply (through the
lab's own converge) is `solve`. Progress lives in the lab's own state folder
(practice.json); it is bookkeeping for the trainee's status only, never what
a check reads.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import nodes, texts
from ..build import ensure_base
from ..runlog import LabError
from ..statefiles import write_atomic
from ..steps import Context, converge, type_solution
from ..steps import (app_images, app_source, daemon_json, deploy, docker as docker_step, frontend_env, nfs,
                    registry, server_name, swarm, verify)

DONE, SOLVED, CURRENT, NOT_STARTED = "done", "solved by the lab", "current", "not started"
HINT_LEVELS = 3  # a nudge, the command's shape, the full solution


@dataclass(frozen=True)
class PracticeStep:
    key: str
    checks: tuple[Callable[[Context], list[str]], ...]
    teaches: tuple[Callable[[Context], list[tuple[str, str]]], ...]
    solve: Callable[[Context], None]
    # What the lab sets up before the trainee starts this step: what a
    # classroom with no network could not get otherwise.
    prepare: Callable[[Context], None] | None = None
    stand_in: Callable[[Context], str | None] | None = None

    def check(self, ctx: Context) -> list[str]:
        problems: list[str] = []
        for fn in self.checks:
            problems += fn(ctx)
            if problems:
                break
        return problems

    def solution(self, ctx: Context) -> list[tuple[str, str]]:
        return [line for fn in self.teaches for line in fn(ctx)]


def lab_step(module) -> Callable[[Context], None]:
    return lambda ctx: converge(ctx, module)


def typed(step_key: str) -> Callable[[Context], None]:
    """A step the lab has no module of its own for: solving it is typing its
    solution, as the trainee's user."""
    def solve(ctx: Context) -> None:
        type_solution(ctx, step(step_key).solution(ctx))
    return solve


def build_images(ctx: Context) -> None:
    app_images.build_all(ctx, app_images.expected(ctx))


def registry_solve(ctx: Context) -> None:
    converge(ctx, daemon_json)
    converge(ctx, registry)


def registry_prepare(ctx: Context) -> None:
    registry.ensure_image(ctx)


def base_prepare(ctx: Context) -> None:
    ensure_base(ctx, ctx.config.manager.name)


def registry_stand_in(ctx: Context) -> str | None:
    return "registry:2 is built by the lab from Debian's docker-registry (nothing can be pulled here)"


def deploy_solve(ctx: Context) -> None:
    deploy.converge(ctx)


def deploy_stand_in(ctx: Context) -> str | None:
    rendered = deploy.render(ctx)
    return "; ".join(rendered.adaptations) or None


# The module's order (lab/steps/order.py: step 0, Docker, then the tutorial's
# nine steps as TUTORIAL.md lists them); what practice adds to each step.
STEPS: tuple[PracticeStep, ...] = (
    PracticeStep("docker", (docker_step.check,), (docker_step.teach,), lab_step(docker_step)),
    PracticeStep("swarm", (swarm.check,), (swarm.teach,), lab_step(swarm)),
    PracticeStep("app", (app_source.check,), (app_source.teach,), app_source.solve, app_source.prepare),
    PracticeStep("server_name", (server_name.check,), (server_name.teach,), typed("server_name")),
    PracticeStep("frontend_env", (frontend_env.check,), (frontend_env.teach,), typed("frontend_env")),
    PracticeStep("registry", (registry.check, daemon_json.check), (registry.teach, daemon_json.teach),
                 registry_solve, registry_prepare, registry_stand_in),
    PracticeStep("nfs", (nfs.check,), (nfs.teach,), lab_step(nfs), stand_in=nfs.stand_in),
    PracticeStep("images", (app_images.check,), (app_images.teach,), build_images, base_prepare),
    PracticeStep("deploy", (deploy.check,), (deploy.teach,), deploy_solve,
                 deploy.prepare, deploy_stand_in),
    PracticeStep("verify", (verify.check,), (verify.teach,), typed("verify")),
)
KEYS = tuple(s.key for s in STEPS)


def step(key: str) -> PracticeStep:
    return STEPS[KEYS.index(key)]


# -- progress (practice.json) ---------------------------------------------------

class NotStarted(LabError):
    pass


def state_path(config) -> Path:
    return nodes.own_dir(config) / "practice.json"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_state(lang: str, first: str) -> dict:
    steps = {}
    for s in STEPS:
        steps[s.key] = {"status": NOT_STARTED, "attempts": 0, "hints": 0, "seconds": 0.0, "since": None}
    state = {"lang": lang, "started": now(), "steps": steps}
    for key in KEYS[:KEYS.index(first)]:
        steps[key]["status"] = SOLVED
    make_current(state, first)
    return state


def make_current(state: dict, key: str | None) -> None:
    if key is not None:
        state["steps"][key].update(status=CURRENT, since=time.time())


def current(state: dict) -> str | None:
    return next((k for k in KEYS if state["steps"][k]["status"] == CURRENT), None)


def load(config) -> dict | None:
    path = state_path(config)
    return json.loads(path.read_text()) if path.exists() else None


def require(config) -> dict:
    state = load(config)
    if state is None:
        raise NotStarted("no guided practice on this lab yet",
                         hint="start one with: invoke lab.practice.start (--lang id for Indonesian)")
    return state


def save(config, state: dict) -> None:
    """Atomically: a trainee's progress survives an interrupted command."""
    write_atomic(state_path(config), json.dumps(state, indent=2) + "\n")


def finish_step(state: dict, key: str, status: str) -> str | None:
    """Mark `key` done (or solved), make the next one current; the next key."""
    entry = state["steps"][key]
    if entry["since"]:
        entry["seconds"] = round(entry["seconds"] + time.time() - entry["since"], 1)
    entry.update(status=status, since=None)
    index = KEYS.index(key)
    following = KEYS[index + 1] if index + 1 < len(KEYS) else None
    make_current(state, following)
    return following


def rows(state: dict) -> list[dict]:
    """One row per step for status: its state, checks run, time spent, hints."""
    out = []
    for number, key in enumerate(KEYS):
        entry = state["steps"][key]
        seconds = entry["seconds"] + (time.time() - entry["since"] if entry["since"] else 0)
        out.append({"step": number, "key": key, "title": texts.step(key, state["lang"])["title"],
                    "status": entry["status"], "attempts": entry["attempts"], "seconds": round(seconds, 1),
                    "hints": entry["hints"]})
    return out


def parse_from(value: str | None) -> str:
    """--from takes a step's key or its number."""
    if value is None:
        return KEYS[0]
    if value.isdigit() and int(value) < len(KEYS):
        return KEYS[int(value)]
    if value in KEYS:
        return value
    raise LabError(f"--from {value!r}: no such step",
                   hint="use one of: " + ", ".join(f"{i} {k}" for i, k in enumerate(KEYS)))


def finish_all(config) -> list[str]:
    """lab.up did the remaining steps: each is solved by the lab."""
    state = load(config)
    if state is None:
        return []
    left = [k for k in KEYS if state["steps"][k]["status"] in (CURRENT, NOT_STARTED)]
    for key in left:
        state["steps"][key].update(status=SOLVED, since=None)
    save(config, state)
    return left


def forget(config) -> None:
    """The nodes are gone: so is the practice on them."""
    state_path(config).unlink(missing_ok=True)
