"""/etc/docker/daemon.json on every node (tutorial step 5, second half):
trust the lab registry over plain HTTP, and keep DNS on this machine."""
from __future__ import annotations

import json
import shlex
import time

from ..remote import on_each
from . import Context, swarm

NAME = "daemon.json: insecure registry (and DNS) on every node"
PATH = "/etc/docker/daemon.json"
SETTLE_SECONDS = 5


def teach(ctx: Context) -> list[tuple[str, str]]:
    return [("every node", f"echo '{json.dumps(wanted_keys(ctx))}' | sudo tee {PATH}"),
            ("every node", "sudo systemctl restart docker")]


def wanted_keys(ctx: Context) -> dict:
    keys = {"insecure-registries": [ctx.config.registry]}
    if not ctx.caps.own_resolver:
        # The node's only resolver is Docker's embedded 127.0.0.11, which the
        # inner engine cannot hand to its containers: it would fall back to
        # 8.8.8.8, off this machine. Give it the host's own resolver instead.
        keys["dns"] = [ctx.resolver]
    return keys


def merged(current: dict, wanted: dict) -> dict:
    """Other keys a trainer put there are kept; lists gain what is missing."""
    result = dict(current)
    for key, values in wanted.items():
        if key == "dns":
            result[key] = values
            continue
        existing = list(result.get(key, []))
        result[key] = existing + [v for v in values if v not in existing]
    return result


def read(ctx: Context, node: str) -> dict:
    text = ctx.sh(node, f"cat {PATH} 2>/dev/null || true", teach=False).out
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {"__invalid__": text}
    return data if isinstance(data, dict) else {"__invalid__": text}


def stale(ctx: Context, node: str) -> bool:
    current = read(ctx, node)
    return "__invalid__" in current or merged(current, wanted_keys(ctx)) != current


def check(ctx: Context) -> list[str]:
    flags = on_each(ctx.config.nodes, lambda n: stale(ctx, n.name))
    return [f"{PATH} incomplete on {n.name}" for n, bad in zip(ctx.config.nodes, flags) if bad]


def apply(ctx: Context, step, missing) -> None:
    for node, command in teach(ctx):
        ctx.run.show_command(node, command)

    def fix(node):
        current = read(ctx, node.name)
        if "__invalid__" in current:
            backup = f"{PATH}.invalid-backup"
            ctx.sh(node.name, f"cp {PATH} {backup}", teach=False)
            ctx.run.note(f"{node.name}: {PATH} was not valid JSON; kept as {backup}")
            current = {}
        new = merged(current, wanted_keys(ctx))
        if new == current:
            return None
        text = json.dumps(new, indent=2)
        ctx.sh(node.name, f"mkdir -p /etc/docker && printf '%s\\n' {shlex.quote(text)} > {PATH}.new "
                          f"&& mv {PATH}.new {PATH} && systemctl restart docker", teach=False)
        return node.name

    changed = [n for n in on_each(ctx.config.nodes, fix) if n]
    step.detail = f"written and docker restarted on {', '.join(changed)}"
    settle_swarm(ctx, changed)


def settle_swarm(ctx: Context, restarted: list[str], seconds: int = 60) -> None:
    """A restarted engine stops the swarm tasks it ran. Wait until the manager
    hears from those nodes again, so later steps see the tasks as they are
    (the stack step replaces the ones swarm will not restart by itself)."""
    if ctx.manager_sh("docker info --format '{{.Swarm.ControlAvailable}}'", teach=False,
                      check=False).out != "true":
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready = {n["Hostname"] for n in swarm.node_list(ctx) if n.get("Status") == "Ready"}
        if set(restarted) <= ready:
            break
        time.sleep(1)
    # Task states reach the manager a heartbeat after the node itself.
    time.sleep(SETTLE_SECONDS)
