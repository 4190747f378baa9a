"""promote: a worker becomes a second manager (Reachable), the swarm keeps
working, then it is demoted back. Raft quorum, with the numbers."""
from __future__ import annotations

from ..checks.http import request
from ..steps import deploy
from . import state
from .measure import quorum

NAME = "promote"


def quorum_table() -> list[str]:
    rows = []
    for managers in (1, 2, 3, 4, 5):
        need, lose = quorum(managers)
        rows.append(f"{managers} manager(s): quorum {need}, may lose {lose}")
    return rows


def short_services(d) -> list[str]:
    """Services of the stack with fewer tasks running than they want now."""
    out = d.m(f"docker stack services {d.config.stack_name} --format '{{{{.Name}}}} {{{{.Replicas}}}}'",
              teach=False, check=False)
    short = []
    for line in out.stdout.splitlines():
        name, replicas = line.split(" ", 1)
        running, wanted = replicas.split(" ")[0].split("/")
        if running != wanted:
            short.append(name)
    return short


def worker_only(d) -> set[str]:
    rendered = deploy.render(d.ctx)
    return {f"{d.config.stack_name}_{name}" for name, svc in rendered.data["services"].items()
            if "node.role == worker" in ((svc.get("deploy") or {}).get("placement") or {}).get("constraints", [])}


def run(d) -> str:
    counts = state.per_node(state.stack_tasks(d.ctx))
    worker = min((w.name for w in d.config.workers), key=lambda w: (counts.get(w, 0), w))
    d.show("docker node ls")
    probe = "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'"
    refused = d.on(worker, probe, check=False)
    d.expect(not refused.ok, f"{worker} answered `docker node ls` before it was promoted")
    d.say(f"{worker} is a worker: it cannot answer `docker node ls` ({refused.stderr.strip().splitlines()[-1] if refused.stderr.strip() else 'refused'})")

    had = len([t for t in state.stack_tasks(d.ctx) if t.node == worker])
    d.journal.add("promote", node=worker)
    d.m(f"docker node promote {worker}")
    took = d.wait(f"{worker} Reachable", lambda: state.node_rows(d.ctx).get(worker, {}).get("ManagerStatus") == "Reachable", 60)
    d.show("docker node ls")
    answered = d.on(worker, probe, check=False)
    d.expect(answered.ok and worker in answered.stdout, f"{worker} as a manager did not answer `docker node ls`")
    d.say(f"{worker} is Reachable after {took}s and answers `docker node ls` itself")
    # The stack places the app on node.role == worker: as a manager the node
    # no longer qualifies, and the swarm moves its app tasks elsewhere.
    full = d.wait("every service at its replicas with two managers",
                  lambda: not short_services(d) and not [t for t in state.stack_tasks(d.ctx)
                                                         if t.node == worker and t.service in worker_only(d)], 120)
    d.show(f"docker stack ps {d.config.stack_name} --filter desired-state=running "
           "--format 'table {{.Name}}\t{{.Node}}\t{{.CurrentState}}'")
    health = request("GET", f"{d.config.api_url}health", timeout=5 * d.ctx.patience)
    d.expect(health.status == 200, f"the API answered {health.status} with two managers")
    now_there = sorted({t.service.removeprefix(f"{d.config.stack_name}_") for t in state.stack_tasks(d.ctx)
                        if t.node == worker})
    d.say(f"{worker} ran {had} app tasks, which the swarm moved to the workers (the stack allows node.role == worker "
          "only); "
          f"every service at its replicas after {full}s, the API answers; on {worker} now: "
          f"{', '.join(now_there) or 'nothing'}")
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
