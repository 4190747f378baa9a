"""drain: a drained node gives its tasks away; a paused node keeps its tasks
but takes no new one; both back to active."""
from __future__ import annotations

from . import state

NAME = "drain"
SCALED = "frontend"
EXTRA = 2


def app_tasks_on(d, node: str) -> list[state.Task]:
    return [t for t in state.stack_tasks(d.ctx) if t.node == node]


def run(d) -> str:
    stack = d.config.stack_name
    d.show(f"docker stack ps {stack} --filter desired-state=running --format 'table {{{{.Name}}}}\\t{{{{.Node}}}}\\t{{{{.CurrentState}}}}'")
    tasks = state.stack_tasks(d.ctx)
    workers = [w.name for w in d.config.workers]
    counts = state.per_node(tasks)
    d.expect(any(counts.get(w) for w in workers), "no app task runs on any worker")
    drained = max(workers, key=lambda w: (counts.get(w, 0), w))
    moving = counts.get(drained, 0)
    d.say(f"{drained} runs {moving} app tasks, the most of any node: drain it")
    d.journal.add("availability", node=drained)
    d.m(f"docker node update --availability drain {drained}")
    took = d.wait(f"every task leaving {drained}", lambda: d.app_settled(avoid=drained), 120)
    d.show("docker node ls")
    d.show(f"docker stack ps {stack} --filter desired-state=running --format 'table {{{{.Name}}}}\\t{{{{.Node}}}}\\t{{{{.CurrentState}}}}'")
    now = state.stack_tasks(d.ctx)
    d.expect(not [t for t in now if t.node == drained], f"{drained} still runs app tasks")
    d.say(f"{drained} drained: its {moving} tasks run elsewhere now ({state.placement(now)}), in {took}s")

    paused = next(w for w in workers if w != drained)
    kept = {t.id for t in app_tasks_on(d, paused)}
    d.journal.add("availability", node=paused)
    d.m(f"docker node update --availability pause {paused}")
    service = f"{stack}_{SCALED}"
    info = state.inspect_service(d.ctx, service)
    replicas = state.replicas_of(info)
    d.journal.add("scale", service=service, replicas=replicas)
    d.m(f"docker service scale --detach {service}={replicas + EXTRA}")
    d.wait(f"{service} at {replicas + EXTRA} running tasks",
           lambda: len([t for t in state.service_tasks(d.ctx, service) if t.running]) == replicas + EXTRA, 90)
    d.show(f"docker service ps {service} --filter desired-state=running")
    on_paused = {t.id for t in app_tasks_on(d, paused)}
    d.expect(kept <= on_paused, f"paused {paused} lost tasks it ran: {sorted(kept - on_paused)}")
    d.expect(on_paused == kept, f"paused {paused} took new tasks: {sorted(on_paused - kept)}")
    new_places = state.placement(state.service_tasks(d.ctx, service))
    d.say(f"{paused} paused: kept its {len(kept)} tasks, took none of the {EXTRA} new {SCALED} tasks "
          f"({service}: {new_places})")

    d.m(f"docker service scale --detach {service}={replicas}")
    d.m(f"docker node update --availability active {paused}")
    d.m(f"docker node update --availability active {drained}")
    d.show("docker node ls")
    d.note_number("drained", drained)
    d.note_number("moved_tasks", moving)
    d.note_number("drain_seconds", took)
    return (f"drained {drained}: {moving} tasks moved off in {took}s; paused {paused} kept {len(kept)} tasks "
            f"and took 0 of {EXTRA} new; both Active again")

