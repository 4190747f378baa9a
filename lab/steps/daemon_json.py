"""/etc/docker/daemon.json on every node (tutorial step 5, second half):
trust the lab registry over plain HTTP, and keep DNS on this machine."""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass

from ..remote import on_each
from . import Context, Problem, swarm

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


# One round trip per node: the file as written, then what the running engine
# took from it (a daemon.json changed without a restart is not in force).
STATE = (f"cat {PATH} 2>/dev/null; echo; echo ---engine---; "
         "docker info --format '{{json .RegistryConfig.IndexConfigs}}' 2>/dev/null")


@dataclass
class NodeState:
    text: str
    data: dict | None
    error: json.JSONDecodeError | None
    engine_registries: dict


def read(ctx: Context, node: str) -> NodeState:
    out = ctx.sh(node, STATE, check=False, teach=False).stdout
    text, _, engine = out.partition("---engine---")
    text = text.strip()
    data, error = ({}, None) if not text else (None, None)
    if text:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            error = exc
        if data is not None and not isinstance(data, dict):
            data = None
    try:
        registries = json.loads(engine.strip() or "{}") or {}
    except json.JSONDecodeError:
        registries = {}
    return NodeState(text, data, error, registries)


def problems_of(ctx: Context, node: str, state: NodeState) -> list[Problem]:
    registry = ctx.config.registry
    if state.data is None:
        line = state.error.lineno if state.error else 1
        reason = state.error.msg if state.error else "not a JSON object"
        return [Problem("daemon_json_invalid", node=node, path=PATH, line=line, error=reason)]
    if registry not in (state.data.get("insecure-registries") or []):
        return [Problem("daemon_json_no_registry", node=node, path=PATH, registry=registry)]
    wanted_dns = wanted_keys(ctx).get("dns")
    if wanted_dns and not set(wanted_dns) <= set(state.data.get("dns") or []):
        return [Problem("daemon_json_no_dns", node=node, path=PATH, resolver=wanted_dns[0])]
    secure = (state.engine_registries.get(registry) or {}).get("Secure", True)
    if secure:
        return [Problem("daemon_json_not_restarted", node=node, path=PATH, registry=registry)]
    return []


def check(ctx: Context) -> list[str]:
    found = on_each(ctx.config.nodes, lambda n: problems_of(ctx, n.name, read(ctx, n.name)))
    return [p for problems in found for p in problems]


def apply(ctx: Context, step, missing) -> None:
    for node, command in teach(ctx):
        ctx.run.show_command(node, command)

    def fix(node):
        state = read(ctx, node.name)
        if not problems_of(ctx, node.name, state):
            return None
        current = state.data
        if current is None:
            backup = f"{PATH}.invalid-backup"
            ctx.sh(node.name, f"cp {PATH} {backup}", teach=False)
            ctx.run.note(f"{node.name}: {PATH} was not valid JSON; kept as {backup}")
            current = {}
        new = merged(current, wanted_keys(ctx))
        write = "" if new == current else (
            f"mkdir -p /etc/docker && printf '%s\\n' {shlex.quote(json.dumps(new, indent=2))} > {PATH}.new "
            f"&& mv {PATH}.new {PATH} && ")
        # Written by a trainee but never restarted: the restart is what is missing.
        ctx.sh(node.name, write + "systemctl restart docker", teach=False)
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
