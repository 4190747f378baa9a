"""scale: backend 2 -> 6 -> 2, and where the tasks land."""
from __future__ import annotations

import time

from . import state

NAME = "scale"
SERVICE = "backend"
UP_TO = 6
# Seconds at 6 replicas before scaling back: long enough for the class to see
# it on lab.dashboard (redrawn every second).
HOLD = 5


def running(d, service: str) -> list[state.Task]:
    return [t for t in state.service_tasks(d.ctx, service) if t.running]


def run(d) -> str:
    service = f"{d.config.stack_name}_{SERVICE}"
    start = state.replicas_of(state.inspect_service(d.ctx, service))
    d.expect(start > 0, f"{service} does not exist")
    d.journal.add("scale", service=service, replicas=start)
    d.m(f"docker service scale --detach {service}={UP_TO}")
    up = d.wait(f"{service} at {UP_TO} running tasks", lambda: len(running(d, service)) == UP_TO, 180)
    d.show(f"docker service ps {service} --filter desired-state=running")
    tasks = running(d, service)
    d.expect(len(tasks) == UP_TO, f"{len(tasks)} tasks run, not {UP_TO}")
    d.expect(not [t for t in tasks if t.node == d.manager], "a backend task landed on the manager "
             "(the stack file allows workers only)")
    wide = state.placement(tasks)
    d.say(f"{service}: {start} -> {UP_TO} in {up}s: {wide}")
    time.sleep(HOLD)
    d.m(f"docker service scale --detach {service}={start}")
    down = d.wait(f"{service} back at {start}", lambda: len(running(d, service)) == start
                  and len(state.service_tasks(d.ctx, service)) == start, 120)
    tasks = running(d, service)
    d.show(f"docker service ps {service} --filter desired-state=running")
    d.say(f"{service}: {UP_TO} -> {start} in {down}s: {state.placement(tasks)}")
    d.numbers.update({"service": service, "up_seconds": up, "down_seconds": down, "spread": wide})
    return f"{SERVICE} {start} -> {UP_TO} in {up}s ({wide}) -> {start} in {down}s ({state.placement(tasks)})"
