"""node-loss: a worker stops; the swarm marks it Down and runs its tasks
elsewhere while a probe loop measures what users saw; the node comes back
empty, and `docker service update --force` spreads a service onto it again."""
from __future__ import annotations

from .. import providers
from . import journal as journalmod
from . import state
from .measure import ProbeLoop

NAME = "node-loss"
REBALANCED = "frontend"
PROBE_INTERVAL = 0.2


def run(d) -> str:
    ctx = d.ctx
    stack = d.config.stack_name
    counts = state.per_node(state.stack_tasks(ctx))
    workers = [w.name for w in d.config.workers]
    victim = max(workers, key=lambda w: (counts.get(w, 0), w))
    lost = counts.get(victim, 0)
    d.expect(lost > 0, "no app task runs on any worker")
    urls = [f"{d.config.web_url}login", f"{d.config.api_url}health"]
    d.say(f"{victim} runs {lost} app tasks; probing {' and '.join(urls)} every {int(PROBE_INTERVAL * 1000)} ms")
    entry = d.journal.add("node_stop", node=victim)
    with ProbeLoop(urls, PROBE_INTERVAL) as loop:
        providers.current(d.config).stop_node(d.config, d.run, victim)
        down = d.wait(f"the swarm marking {victim} Down",
                      lambda: state.node_rows(ctx).get(victim, {}).get("Status") == "Down", 90, every=0.5)
        d.say(f"{victim} stopped; `docker node ls` shows it Down after {down}s")
        moved = d.wait(f"{victim}'s tasks running elsewhere", lambda: d.app_settled(avoid=victim), 180)
        # A few more probes once everything runs again: the gap is closed.
        d.wait("the probes answering again", lambda: loop.samples and all(s.ok for s in loop.samples[-4:]), 60,
               every=0.5)
    d.show("docker node ls")
    d.show(f"docker stack ps {stack} --filter desired-state=running --format 'table {{{{.Name}}}}\\t{{{{.Node}}}}\\t{{{{.CurrentState}}}}'")
    gap = round(loop.longest_gap(), 1)
    d.say(f"tasks rescheduled {moved}s after it was Down; probe loop: {loop.failed} of {loop.total} requests failed, "
          f"longest gap {gap}s")

    journalmod.undo_node_stop(ctx, entry)
    d.journal.remove(entry)
    d.show("docker node ls")
    back = [t for t in state.stack_tasks(ctx) if t.node == victim]
    d.expect(not back, f"{victim} got tasks back by itself: {[t.service for t in back]}")
    d.say(f"{victim} is Ready again and runs no app task: the swarm does not move tasks back by itself")

    service = f"{stack}_{REBALANCED}"
    d.m(f"docker service update --force --detach {service}")
    d.wait(f"{service} updated", lambda: state.update_state(state.inspect_service(ctx, service)) == "completed"
           and len([t for t in state.service_tasks(ctx, service) if t.running]) == state.replicas_of(
               state.inspect_service(ctx, service)), 120)
    d.show(f"docker service ps {service} --filter desired-state=running")
    spread = state.service_tasks(ctx, service)
    d.expect(any(t.node == victim and t.running for t in spread),
             f"after --force no {REBALANCED} task runs on {victim} ({state.placement(spread)})")
    d.numbers.update({"node": victim, "tasks_lost": lost, "down_seconds": down, "rescheduled_seconds": moved,
                      "requests": loop.total, "failed_requests": loop.failed, "longest_gap_seconds": gap})
    return (f"{victim} stopped: Down after {down}s, its {lost} tasks ran elsewhere {moved}s later; "
            f"{loop.failed}/{loop.total} probe requests failed, longest gap {gap}s; back empty, "
            f"--force put {REBALANCED} on it again ({state.placement(spread)})")
