"""promote: a worker becomes a second manager (Reachable), the swarm keeps
working, then it is demoted back. Raft quorum, with the numbers."""
from __future__ import annotations

from . import state
from .measure import quorum

NAME = "promote"


def quorum_table() -> list[str]:
    rows = []
    for managers in (1, 2, 3, 4, 5):
        need, lose = quorum(managers)
        rows.append(f"{managers} manager(s): quorum {need}, may lose {lose}")
    return rows


def run(d) -> str:
    counts = state.per_node(state.stack_tasks(d.ctx))
    worker = min((w.name for w in d.config.workers), key=lambda w: (counts.get(w, 0), w))
    d.show("docker node ls")
    probe = "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'"
    refused = d.on(worker, probe, check=False)
    d.expect(not refused.ok, f"{worker} answered `docker node ls` before it was promoted")
    d.say(f"{worker} is a worker: it cannot answer `docker node ls` ({refused.stderr.strip().splitlines()[-1] if refused.stderr.strip() else 'refused'})")

    d.journal.add("promote", node=worker)
    d.m(f"docker node promote {worker}")
    took = d.wait(f"{worker} Reachable", lambda: state.node_rows(d.ctx).get(worker, {}).get("ManagerStatus") == "Reachable", 60)
    d.show("docker node ls")
    answered = d.on(worker, probe, check=False)
    d.expect(answered.ok and worker in answered.stdout, f"{worker} as a manager did not answer `docker node ls`")
    d.say(f"{worker} is Reachable after {took}s and answers `docker node ls` itself")
    d.show(f"docker stack services {d.config.stack_name}")
    from ..steps import deploy
    d.expect(not deploy.lagging(d.ctx, deploy.render(d.ctx)), "services are short of replicas with two managers")
    for row in quorum_table():
        d.say(row)

    d.m(f"docker node demote {worker}")
    d.wait(f"{worker} a worker again", lambda: not state.node_rows(d.ctx).get(worker, {}).get("ManagerStatus"), 60)
    d.show("docker node ls")
    managers = [h for h, r in state.node_rows(d.ctx).items() if r.get("ManagerStatus")]
    d.expect(managers == [d.manager], f"managers after demote: {managers}")
    need2, lose2 = quorum(2)
    need3, lose3 = quorum(3)
    d.note_number("promoted", worker)
    d.note_number("reachable_seconds", took)
    return (f"{worker} promoted (Reachable in {took}s) and demoted; 2 managers: quorum {need2}, may lose {lose2}; "
            f"3 managers: quorum {need3}, may lose {lose3}")
