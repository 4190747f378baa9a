"""rolling-update: backend to a new tag one task at a time, then to a broken
tag that the swarm rolls back by itself (failure_action rollback)."""
from __future__ import annotations

import json
import time

from . import state
from .measure import parse_time, spacing

NAME = "rolling-update"
SERVICE = "backend"
DELAY = 5
GOOD_TAG = "drill-v2"
BROKEN_TAG = "drill-broken"


def task_details(d, service: str) -> list[dict]:
    script = (f"ids=$(docker service ps -q --no-trunc {service}); "
              "[ -n \"$ids\" ] && docker inspect --format '{{json .}}' $ids")
    out = d.m(script, teach=False, check=False)
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def task_image(task: dict) -> str:
    return ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")


def build(d, image: str, lines: list[str]) -> None:
    """A new tag of the app's own image, built on the manager and pushed to the lab registry."""
    dockerfile = "\\n".join(lines)
    d.journal.add("image", image=image)
    d.m(f"printf '{dockerfile}\\n' | docker build -q -t {image} -")
    d.m(f"docker push {image} >/dev/null")


def wait_update(d, service: str, wanted: tuple[str, ...], seconds: float) -> tuple[float, set[str]]:
    seen: set[str] = set()

    def done():
        st = state.update_state(state.inspect_service(d.ctx, service))
        seen.add(st)
        return st in wanted
    return d.wait(f"{service} update state {' or '.join(wanted)}", done, seconds), seen


def run(d) -> str:
    ctx = d.ctx
    registry = d.config.registry
    service = f"{d.config.stack_name}_{SERVICE}"
    base = f"{registry}/{SERVICE}"
    replicas = state.replicas_of(state.inspect_service(ctx, service))
    d.expect(replicas > 0, f"{service} does not exist")
    d.m(f"docker pull -q {base}:latest")
    build(d, f"{base}:{GOOD_TAG}", [f"FROM {base}:latest", f"LABEL lab.drill={GOOD_TAG}"])
    build(d, f"{base}:{BROKEN_TAG}", [f"FROM {base}:latest", 'CMD /bin/false'])
    d.journal.add("stack", service=service)

    started = time.time()
    d.m(f"docker service update --detach --image {base}:{GOOD_TAG} --update-parallelism 1 "
        f"--update-delay {DELAY}s {service}")
    took, _ = wait_update(d, service, ("completed",), 240)
    d.show(f"docker service ps {service}")
    tasks = task_details(d, service)
    new = [t for t in tasks if GOOD_TAG in task_image(t) and t["Status"]["State"] == "running"]
    old = [t for t in tasks if GOOD_TAG not in task_image(t)]
    d.expect(len(new) == replicas, f"{len(new)} of {replicas} tasks run {GOOD_TAG}")
    d.expect(old and all(t["DesiredState"] == "shutdown" for t in old), "the old tasks are not shut down")
    created = [parse_time(t["CreatedAt"]) for t in new if parse_time(t["CreatedAt"]) >= started - 1]
    gaps = spacing(created)
    d.expect(len(created) == replicas, f"{len(created)} new tasks made by this update, not {replicas}")
    d.expect(all(g >= DELAY * 0.9 for g in gaps),
             f"tasks were not replaced one at a time {DELAY}s apart: {gaps}")
    per_task = round(took / replicas, 1)
    d.say(f"{service}: {replicas} tasks replaced one at a time in {took}s ({per_task}s per task; "
          f"new tasks started {', '.join(f'{g}s' for g in gaps)} apart)")

    d.m(f"docker service update --detach --image {base}:{BROKEN_TAG} --update-failure-action rollback "
        f"--update-monitor 15s --update-max-failure-ratio 0 {service}")
    back, seen = wait_update(d, service, ("rollback_completed", "paused", "rollback_paused"), 240)
    info = state.inspect_service(ctx, service)
    d.show(f"docker service ps {service}")
    d.show(f"docker service inspect --format '{{{{.UpdateStatus.State}}}}: {{{{.UpdateStatus.Message}}}}' {service}")
    d.expect(state.update_state(info) == "rollback_completed",
             f"UpdateStatus is {state.update_state(info)!r}, not rollback_completed")
    d.expect(GOOD_TAG in state.service_image(info), f"the service runs {state.service_image(info)} after the rollback")

    def running():
        return [t for t in task_details(d, service) if t["Status"]["State"] == "running"
                and t["DesiredState"] == "running"]
    # rollback_completed can come while the last task put back is still starting.
    d.wait(f"{replicas} tasks of {GOOD_TAG} running after the rollback", lambda: len(running()) == replicas, 60)
    d.expect(all(GOOD_TAG in task_image(t) for t in running()), f"running tasks: {[task_image(t) for t in running()]}")
    failed = [t for t in task_details(d, service) if BROKEN_TAG in task_image(t)]
    d.say(f"{BROKEN_TAG} failed ({len(failed)} task(s) tried); the swarm rolled back to {GOOD_TAG} by itself "
          f"in {back}s (states seen: {', '.join(sorted(s for s in seen if s))})")
    d.numbers.update({"service": service, "replicas": replicas, "update_seconds": took,
                      "seconds_per_task": per_task, "task_spacing": gaps, "rollback_seconds": back})
    return (f"{SERVICE}: {replicas} tasks to {GOOD_TAG} one at a time, {per_task}s per task; "
            f"{BROKEN_TAG} rolled back by the swarm in {back}s, UpdateStatus rollback_completed")
