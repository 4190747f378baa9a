"""What a drill changed, written down before it changes it, so it can be undone.

The journal is a JSON file in the lab's own folder. An entry is added before
each change (drain a node, promote it, create a scratch service, stop a
node...) and removed once it has been undone. A drill undoes its entries when
it ends, however it ends; what a Ctrl-C or a crash left behind is undone by the
next drill or the next `lab.up`. Every undo first reads the real state, so
running it twice, or for a change that never happened, does no harm.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from .. import nodes
from ..runlog import LabError
from ..remote import together
from ..steps import Context
from . import state

# Scratch services and networks carry this label: whatever a drill created is
# found again even when its journal entry was never written.
SCRATCH_LABEL = "lab.drill"


def journal_path(config) -> Path:
    return nodes.own_dir(config) / "drill-journal.json"


class Journal:
    def __init__(self, path: Path):
        self.path = path

    def entries(self) -> list[dict]:
        return json.loads(self.path.read_text()) if self.path.exists() else []

    def _write(self, entries: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1) + "\n")
        tmp.replace(self.path)

    def add(self, undo: str, **what) -> dict:
        entry = {"undo": undo, **what}
        entries = self.entries()
        if entry not in entries:
            self._write(entries + [entry])
        return entry

    def remove(self, entry: dict) -> None:
        self._write([e for e in self.entries() if e != entry])

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def describe(entry: dict) -> str:
    what = {k: v for k, v in entry.items() if k != "undo"}
    return f"{entry['undo']} " + " ".join(f"{v}" for v in what.values())


# -- the undo of each kind of change -------------------------------------------

def undo_availability(ctx: Context, entry: dict) -> bool:
    row = state.node_rows(ctx).get(entry["node"])
    if row and row.get("Availability") != "Active":
        ctx.manager_sh(f"docker node update --availability active {entry['node']}")
        return True
    return False


def undo_promote(ctx: Context, entry: dict) -> bool:
    row = state.node_rows(ctx).get(entry["node"])
    if row and row.get("ManagerStatus"):
        ctx.manager_sh(f"docker node demote {entry['node']}")
        return True
    return False


def undo_service(ctx: Context, entry: dict) -> bool:
    if entry["name"] in state.services(ctx):
        ctx.manager_sh(f"docker service rm {entry['name']}")
        return True
    return False


def undo_network(ctx: Context, entry: dict) -> bool:
    name = entry["name"]
    removed = False
    # Tasks of a service just removed keep the network busy for a moment, and
    # after `docker network rm` the manager lists it until its own task is gone.
    for _ in range(int(60 * ctx.patience)):
        out = ctx.manager_sh(f"docker network ls -q --filter name=^{name}$", teach=False, check=False)
        if not out.out:
            return removed
        if not removed:
            removed = ctx.manager_sh(f"docker network rm {name}", check=False).ok
        time.sleep(1)
    raise LabError(f"the scratch network {name} is still in use", hint="run the drill (or invoke lab.up) again")


def undo_scale(ctx: Context, entry: dict) -> bool:
    info = state.inspect_service(ctx, entry["service"])
    if info and state.replicas_of(info) != entry["replicas"]:
        ctx.manager_sh(f"docker service scale --detach {entry['service']}={entry['replicas']}")
        return True
    return False


def undo_stack(ctx: Context, entry: dict) -> bool:
    """The stack file is the reference: deploying it again resets the image,
    replicas and update settings of every service a drill changed."""
    from ..steps import deploy
    rendered = deploy.render(ctx)
    deploy.deploy(ctx, rendered)
    return True


def undo_image(ctx: Context, entry: dict) -> bool:
    return ctx.manager_sh(f"docker image rm {entry['image']}", check=False).ok


def undo_node_stop(ctx: Context, entry: dict) -> bool:
    """Start the node the drill stopped (the lab's provider, as lab.up does) and
    take the SSH settings it has now (a node container may come back on
    another address)."""
    name = entry["node"]
    if ctx.cluster and not nodes.unreachable(ctx.cluster, (ctx.config.node(name),)):
        return False
    from .. import providers
    if not providers.recorded(ctx.config):
        raise LabError(f"{name} is stopped and no provider was recorded", hint="run `invoke lab.up`")
    fresh = providers.current(ctx.config).start_node(ctx.config, ctx.run, name)
    if ctx.cluster:
        ctx.cluster.close()
    ctx.cluster = fresh
    deadline = time.monotonic() + 120 * ctx.patience
    while time.monotonic() < deadline:
        if state.node_rows(ctx).get(name, {}).get("Status") == "Ready":
            return True
        time.sleep(1)
    raise LabError(f"{name} is running again but the swarm does not list it Ready",
                   hint="run `invoke lab.up`: it repairs the node's engine and swarm membership")


# Each undo returns whether it had anything left to undo.
UNDO: dict[str, Callable[[Context, dict], bool]] = {
    "availability": undo_availability,
    "promote": undo_promote,
    "service": undo_service,
    "network": undo_network,
    "scale": undo_scale,
    "stack": undo_stack,
    "image": undo_image,
    "node_stop": undo_node_stop,
}

# A stopped node first (the others need it), then services before the
# networks they use, then the node and stack settings.
ORDER = ("node_stop", "service", "network", "scale", "stack", "availability", "promote", "image")


def ordered(entries: list[dict]) -> list[dict]:
    """Undo order: by kind (ORDER), the latest change of a kind first."""
    indexed = list(enumerate(entries))
    indexed.sort(key=lambda ie: (ORDER.index(ie[1]["undo"]) if ie[1]["undo"] in ORDER else len(ORDER), -ie[0]))
    return [e for _, e in indexed]


def scratch_leftovers(ctx: Context) -> list[dict]:
    """Labelled scratch services and networks no journal entry names (a drill
    stopped between creating one and writing it down cannot happen, but a
    journal deleted by hand can)."""
    services, out = together(
        lambda: state.services(ctx, SCRATCH_LABEL),
        lambda: ctx.manager_sh(f"docker network ls --filter label={SCRATCH_LABEL} --format '{{{{.Name}}}}'",
                               teach=False, check=False))
    return [{"undo": "service", "name": s} for s in services] + \
        [{"undo": "network", "name": n} for n in out.stdout.split()]


def restore(ctx: Context, journal: Journal) -> list[str]:
    """Undo every entry (and any labelled scratch object); what had to be undone, in words."""
    entries = journal.entries()
    extra = [e for e in scratch_leftovers(ctx) if e not in entries] if ctx.cluster else []
    done = []
    for entry in ordered(entries + extra):
        handler = UNDO.get(entry["undo"])
        if handler is None:
            journal.remove(entry)
            continue
        acted = handler(ctx, entry)
        journal.remove(entry)
        if acted:
            done.append(describe(entry))
    return done
