"""A worker whose `docker swarm join` stops waiting ("will continue in the
background") is waited for, not failed; any other join error still stops
the step. The logic only, with the nodes' answers given."""
import json
from types import SimpleNamespace

import pytest

from lab.config import Node
from lab.runlog import LabError
from lab.steps import swarm

MANAGER = Node("manager", "manager", "192.168.56.10", 1024, 1)
WORKERS = [Node(f"worker{i}", "worker", f"192.168.56.1{i}", 1024, 1) for i in (1, 2, 3)]
SLOW = ("Error response from daemon: Timeout was reached before node joined. "
        "The attempt to join the swarm will continue in the background. "
        "Use the \"docker info\" command to see the current swarm status of your node.")


class Swarm:
    """A manager already initialised; workers that join when told (the slow
    one answers like a busy emulated VM, and is a member once asked again)."""

    def __init__(self, join_error: dict[str, str]):
        self.join_error, self.joined, self.asked = join_error, set(), []
        self.polls = 0

    def info(self, node):
        if node == "manager" or node in self.joined:
            address = MANAGER.address if node == "manager" else next(w.address for w in WORKERS if w.name == node)
            return {"LocalNodeState": "active", "ControlAvailable": node == "manager",
                    "NodeAddr": address, "NodeID": f"id-{node}"}
        return {"LocalNodeState": "inactive", "NodeID": ""}

    def sh(self, node, command, **_):
        self.asked.append((node, command))
        if command.startswith("docker info"):
            out = json.dumps(self.info(node))
        elif command.startswith("docker swarm join-token"):
            out = "SWMTKN-1-secret"
        elif command.startswith("docker swarm join"):
            error = self.join_error.get(node)
            if error == SLOW:
                self.joined.add(node)  # it goes on joining, as docker says
            if error:
                raise LabError(f"{node}: command failed", command=command, node=node, output=error)
            self.joined.add(node)
            out = "This node joined a swarm as a worker."
        elif command.startswith("docker node ls"):
            self.polls += 1
            out = "\n".join(json.dumps({"ID": f"id-{n}", "Hostname": n, "Status": "Ready", "Availability": "Active"})
                            for n in ["manager", *sorted(self.joined)])
        else:
            out = ""
        return SimpleNamespace(stdout=out, out=out.strip(), ok=True)


def context(fake):
    notes = []
    run = SimpleNamespace(note=notes.append, hide=lambda *a: None, show_command=lambda *a: None)
    config = SimpleNamespace(manager=MANAGER, workers=WORKERS, nodes=[MANAGER, *WORKERS])
    ctx = SimpleNamespace(config=config, run=run, patience=1.0, sh=fake.sh,
                          manager_sh=lambda command, **kw: fake.sh("manager", command, **kw))
    return ctx, notes


def test_a_join_that_goes_on_in_the_background_is_waited_for():
    fake = Swarm({"worker2": SLOW})
    ctx, notes = context(fake)
    step = SimpleNamespace(detail="")
    swarm.apply(ctx, step, [])
    assert step.detail == "joined worker1, worker2, worker3"
    assert any("worker2: the join goes on in the background" in n for n in notes), notes
    assert fake.polls >= 1  # the step waited until the manager listed every node Ready


def test_any_other_join_error_stops_the_step():
    fake = Swarm({"worker3": "Error response from daemon: This node is already part of a swarm."})
    ctx, _ = context(fake)
    with pytest.raises(LabError) as raised:
        swarm.apply(ctx, SimpleNamespace(detail=""), [])
    assert "already part of a swarm" in raised.value.output
