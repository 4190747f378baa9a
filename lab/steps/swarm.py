"""Tutorial step 1: `docker swarm init` on the manager, `docker swarm join`
on each worker, always on the lab addresses (never the NAT address)."""
from __future__ import annotations

import json
import time

from ..remote import on_each, together
from ..runlog import LabError
from . import Context, Problem

NAME = "swarm: init on the manager, join the workers"
INFO = "docker info --format '{{json .Swarm}}'"
# What a trainee copies from the output of TOKEN_COMMAND on the manager.
TOKEN = "<worker token>"
TOKEN_COMMAND = "docker swarm join-token -q worker"
# What `docker swarm join` says when it stops waiting for a join that goes on.
JOINING_ON = "The attempt to join the swarm will continue in the background"
# How long joined nodes get to be listed Ready (times the context's patience).
READY_SECONDS = 60


def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager
    return [(m.name, f"docker swarm init --advertise-addr {m.address}"),
            (m.name, TOKEN_COMMAND)] + [
        (w.name, f"docker swarm join --token {TOKEN} {m.address}:2377") for w in ctx.config.workers
    ] + [(m.name, "docker node ls")]


def swarm_info(ctx: Context, node: str) -> dict:
    return json.loads(ctx.sh(node, INFO, teach=False).out or "{}")


def node_list(ctx: Context) -> list[dict]:
    out = ctx.manager_sh("docker node ls --format '{{json .}}'", teach=False, check=False)
    if not out.ok:
        return []
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def manager_ok(ctx: Context, info: dict) -> bool:
    return (info.get("LocalNodeState") == "active" and info.get("ControlAvailable") is True
            and info.get("NodeAddr") == ctx.config.manager.address)


def gather(ctx: Context) -> dict[str, dict]:
    infos = on_each(ctx.config.nodes, lambda node: swarm_info(ctx, node.name))
    return dict(zip([n.name for n in ctx.config.nodes], infos))


def check(ctx: Context) -> list[str]:
    # The manager's node list is asked beside each node's own view (unused
    # when the manager is no manager: the first problem below).
    infos, entries = together(lambda: gather(ctx), lambda: node_list(ctx))
    m = ctx.config.manager
    mine = infos[m.name]
    if mine.get("LocalNodeState") != "active" or mine.get("ControlAvailable") is not True:
        return [Problem("swarm_no_manager", node=m.name, address=m.address)]
    if mine.get("NodeAddr") != m.address:
        # The trap of the tutorial: a NAT address (10.0.2.15 on VirtualBox) is
        # the same on every VM, so workers would join themselves, not the manager.
        return [Problem("swarm_wrong_address", node=m.name, found=mine.get("NodeAddr"), address=m.address)]
    by_id = {n["ID"]: n for n in entries}
    problems = []
    for w in ctx.config.workers:
        info = infos[w.name]
        entry = by_id.get(info.get("NodeID"))
        if info.get("LocalNodeState") != "active":
            problems.append(Problem("swarm_worker_not_joined", node=w.name, address=m.address))
        elif entry is None:
            problems.append(Problem("swarm_worker_other_swarm", node=w.name, manager=m.name))
        elif info.get("NodeAddr") != w.address:
            problems.append(Problem("swarm_worker_wrong_address", node=w.name, found=info.get("NodeAddr"),
                                    address=w.address))
        elif entry.get("Status") != "Ready":
            problems.append(Problem("swarm_worker_not_ready", node=w.name, status=entry.get("Status")))
        elif entry.get("Availability") != "Active":
            problems.append(Problem("swarm_worker_not_active", node=w.name, availability=entry.get("Availability")))
    names = [n["Hostname"] for n in entries]
    extra = [n for n in names if n not in {x.name for x in ctx.config.nodes}]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if extra or duplicates:
        problems.append(Problem("swarm_stale_entries", node=m.name, names=", ".join(extra + duplicates)))
    return problems

def apply(ctx: Context, step, missing) -> None:
    m = ctx.config.manager
    infos = gather(ctx)
    actions = []
    if not manager_ok(ctx, infos[m.name]):
        if infos[m.name].get("LocalNodeState") != "inactive":
            ctx.manager_sh("docker swarm leave --force")
        ctx.manager_sh(f"docker swarm init --advertise-addr {m.address} --listen-addr {m.address}:2377")
        actions.append("swarm initialised")
        infos = gather(ctx)
    token = ctx.manager_sh("docker swarm join-token -q worker", teach=False).out
    # Anyone holding it can join a machine to the swarm: never in a log or a message.
    ctx.run.hide(token, TOKEN)
    ctx.run.show_command(m.name, TOKEN_COMMAND)
    by_id = {n["ID"]: n for n in node_list(ctx)}

    def join(w):
        info = infos[w.name]
        entry = by_id.get(info.get("NodeID"))
        # Listed by this manager (not a swarm of its own), on its lab address.
        member = (info.get("LocalNodeState") == "active" and info.get("NodeAddr") == w.address
                  and entry and entry.get("Status") == "Ready")
        if member:
            return None
        if info.get("LocalNodeState") != "inactive":
            ctx.sh(w.name, "docker swarm leave --force")
        ctx.run.show_command(w.name, f"docker swarm join --token {TOKEN} {m.address}:2377")
        try:
            ctx.sh(w.name, f"docker swarm join --token {token} --advertise-addr {w.address} "
                           f"--listen-addr {w.address}:2377 {m.address}:2377", teach=False, timeout=120)
        except LabError as exc:
            if JOINING_ON not in exc.output:
                raise
            # A slow node (seen on emulated VMs with a busy host): the engine
            # gave up waiting, not joining; wait_ready below waits for it.
            ctx.run.note(f"{w.name}: the join goes on in the background (docker said its wait timed out); "
                         "waiting for the node to be listed Ready")
        return w.name

    joined = [n for n in on_each(ctx.config.workers, join) if n]
    if joined:
        actions.append(f"joined {', '.join(joined)}")
    wait_ready(ctx, int(READY_SECONDS * ctx.patience))
    reactivated = []
    for n in node_list(ctx):
        if n["Hostname"] in {w.name for w in ctx.config.workers} and n.get("Availability") != "Active" \
                and n.get("Status") == "Ready":
            ctx.manager_sh(f"docker node update --availability active {n['Hostname']}")
            reactivated.append(n["Hostname"])
    if reactivated:
        actions.append(f"set active {', '.join(reactivated)}")
    step.detail = "; ".join(actions)


def remove_stale(ctx: Context) -> list[str]:
    """Entries left by nodes that were recreated or left: Down ones, unknown
    names, and the older twin of a hostname that joined again."""
    names = {n.name for n in ctx.config.nodes}
    entries = node_list(ctx)
    removed = []
    for n in entries:
        if n.get("Self"):
            continue
        twins = [e for e in entries if e["Hostname"] == n["Hostname"]]
        if n["Hostname"] not in names or n.get("Status") == "Down" or (
                len(twins) > 1 and n.get("Status") != "Ready"):
            ctx.manager_sh(f"docker node rm --force {n['ID']}")
            removed.append(n["Hostname"])
    return removed


def wait_ready(ctx: Context, seconds: int = READY_SECONDS) -> None:
    """Until every node is listed once, Ready. A node that left is listed
    twice for a while: its old entry turns Down after a heartbeat or two."""
    wanted = sorted(n.name for n in ctx.config.nodes)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        entries = node_list(ctx)
        if sorted(e["Hostname"] for e in entries) == wanted and all(e.get("Status") == "Ready" for e in entries):
            return
        remove_stale(ctx)
        time.sleep(1)
    raise LabError(f"the swarm did not list every node once, Ready, within {seconds}s",
                   command="docker node ls", node=ctx.config.manager.name,
                   output=ctx.manager_sh("docker node ls", teach=False, check=False).stdout)
