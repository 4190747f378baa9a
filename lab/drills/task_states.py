"""task-states: scratch services whose tasks pass through the states of the
tutorial's table, each task's history printed as a timeline."""
from __future__ import annotations

import json
import time

from .journal import SCRATCH_LABEL
from .measure import Timeline, record, states_seen

NAME = "task-states"
POLL = 0.3
# name -> (what it shows, extra options, command after the image)
CASES = {
    "drill-pending": ("a constraint no node meets", "--constraint node.labels.lab-drill==nowhere", "sleep 300"),
    "drill-no-image": ("an image that does not exist", "", None),
    "drill-complete": ("a task that exits 0, restart-condition none", "", "true"),
    "drill-failed": ("a task that exits 1, restart-condition none", "", "false"),
    "drill-removed": ("a running task replaced by an update (SHUTDOWN), then its service removed (REMOVE)", "",
                      "sleep 300"),
}
# The tutorial's table, in its order.
TABLE = ("new", "pending", "assigned", "accepted", "ready", "preparing", "starting", "running", "complete",
         "failed", "shutdown", "rejected", "orphaned", "remove")
# A state can pass between two polls (preparing lasts a few milliseconds
# when the image is already there): these must be seen, the rest may.
REQUIRED = ("pending", "rejected", "running", "complete", "failed", "shutdown")


def node_names(d) -> dict[str, str]:
    out = d.m("docker node inspect --format '{{.ID}} {{.Description.Hostname}}' $(docker node ls -q)",
              teach=False, check=False)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


def poll(d, known: set[str]) -> list[dict]:
    """One SSH round trip: every task of the scratch services, and the tasks
    seen before (a removed service's tasks linger a moment, unlisted)."""
    script = (f"ids=$(docker service ps -q --no-trunc $(docker service ls -q --filter label={SCRATCH_LABEL}) "
              f"2>/dev/null); docker inspect --type task --format '{{{{json .}}}}' $ids {' '.join(sorted(known))} "
              "2>/dev/null")
    out = d.m(script, teach=False, check=False)
    tasks = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    known.update(t["ID"] for t in tasks)
    return tasks


def run(d) -> str:
    image = f"{d.config.registry}/backend:latest"
    missing = f"{d.config.registry}/drill-no-such-image:none"
    names = node_names(d)
    timelines: dict[str, Timeline] = {}
    known: set[str] = set()

    def sample():
        tasks = poll(d, known)
        record(timelines, tasks, names)
        return tasks

    for name, (why, extra, command) in CASES.items():
        d.say(f"{name}: {why}")
        d.journal.add("service", name=name)
        target = missing if command is None else f"{image} {command}"
        d.m(f"docker service create --detach --quiet --name {name} --label {SCRATCH_LABEL}={NAME} "
            f"--restart-condition none --no-healthcheck --stop-grace-period 1s --constraint node.role==worker "
            f"{extra} {target}".replace("  ", " "))
        # A sample between creations catches the early states of the ones before.
        sample()
    ids = {d.m(f"docker service inspect --format '{{{{.ID}}}}' {n}", teach=False).out: n for n in CASES}

    def state_of(service: str) -> set[str]:
        return {line.events[-1][0] for line in timelines.values() if ids.get(line.service) == service and line.events}

    def seen_of(service: str) -> set[str]:
        return {st for line in timelines.values() if ids.get(line.service) == service for st, _, _ in line.events}

    def settled() -> bool:
        sample()
        return ("pending" in state_of("drill-pending") and "rejected" in state_of("drill-no-image")
                and "complete" in state_of("drill-complete") and "failed" in state_of("drill-failed")
                and "running" in state_of("drill-removed"))
    d.wait("every scratch task in its state", settled, 90, every=POLL)
    # An update replaces the task: the old one stays in the history as SHUTDOWN.
    d.m("docker service update --detach --force drill-removed")
    d.wait("drill-removed's first task SHUTDOWN", lambda: sample() is not None and "shutdown" in seen_of("drill-removed"),
           30, every=POLL)
    d.m("docker service rm drill-removed")
    for _ in range(6):
        sample()
        time.sleep(POLL)
    d.show("docker service ps " + " ".join(n for n in CASES if n != "drill-removed"))
    d.say("each task's state and the time docker stamped it: docker inspect --type task "
          "--format '{{.Status.State}} {{.Status.Timestamp}}' TASK-ID, polled every 0.3 s")
    d.run.console.print("    timelines (state, node, seconds from the task's creation):")
    for service in CASES:
        for line in sorted((l for l in timelines.values() if ids.get(l.service) == service), key=lambda l: l.created):
            d.run.console.print(f"      {service}: {line.line()}", markup=False)
            d.run.log(f"timeline {service} {line.task}: {line.line()}")
    seen = states_seen(timelines)
    missing_states = [s for s in REQUIRED if s not in seen]
    d.expect(not missing_states, f"states not seen: {', '.join(missing_states)}")
    for name in CASES:
        if name != "drill-removed":
            d.m(f"docker service rm {name}")
    shown = [s.upper() for s in TABLE if s in seen] + sorted(s.upper() for s in seen - set(TABLE))
    d.numbers.update({"states_seen": shown, "tasks": len(timelines)})
    return f"{len(timelines)} tasks, states seen: {', '.join(shown)}"
