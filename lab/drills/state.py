"""The swarm as the manager sees it: nodes, tasks, services. Read only.

The drills assert on these answers (real state), the dashboard draws them."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from ..steps import Context

# One SSH round trip for the whole picture: the dashboard polls it every second.
SNAPSHOT_SCRIPT = r"""
docker node ls --format '{{json .}}'
echo '--- tasks'
ids=$(docker service ls -q)
[ -n "$ids" ] && docker service ps $ids --filter desired-state=running --format '{{json .}}'
true
""".strip()


@dataclass(frozen=True)
class Task:
    id: str
    service: str
    slot: str
    node: str
    state: str
    desired: str
    image: str
    error: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


def parse_nodes(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def split_task_name(name: str) -> tuple[str, str]:
    """musicapp_backend.2 -> (musicapp_backend, 2); a global task's slot is its node id."""
    service, _, slot = name.rpartition(".")
    return (service, slot) if service else (name, "")


def parse_tasks(text: str) -> list[Task]:
    tasks = []
    for line in text.splitlines():
        if not line.strip().startswith("{"):
            continue
        row = json.loads(line)
        service, slot = split_task_name(row.get("Name", ""))
        # "Running 5 minutes ago", "Preparing 2 seconds ago": the state is the first word.
        state = (row.get("CurrentState") or "").split(" ")[0].lower()
        tasks.append(Task(row.get("ID", ""), service, slot, row.get("Node", ""), state,
                          (row.get("DesiredState") or "").lower(), row.get("Image", ""), row.get("Error", "")))
    return tasks


def parse_snapshot(text: str) -> tuple[list[dict], list[Task]]:
    nodes_part, _, tasks_part = text.partition("--- tasks")
    return parse_nodes(nodes_part), parse_tasks(tasks_part)


def node_rows(ctx: Context) -> dict[str, dict]:
    out = ctx.manager_sh("docker node ls --format '{{json .}}'", teach=False, check=False)
    return {r["Hostname"]: r for r in parse_nodes(out.stdout)}


def stack_tasks(ctx: Context, stack: str | None = None) -> list[Task]:
    """Tasks the swarm means to run (desired state running) of a stack."""
    out = ctx.manager_sh(f"docker stack ps {stack or ctx.config.stack_name} --filter desired-state=running "
                         "--format '{{json .}}'", teach=False, check=False)
    return parse_tasks(out.stdout)


def service_tasks(ctx: Context, service: str, running_only: bool = True) -> list[Task]:
    flt = "--filter desired-state=running " if running_only else ""
    out = ctx.manager_sh(f"docker service ps {service} {flt}--no-trunc --format '{{{{json .}}}}'",
                         teach=False, check=False)
    return parse_tasks(out.stdout)


def per_node(tasks: list[Task], only_running: bool = True) -> Counter:
    return Counter(t.node for t in tasks if t.running or not only_running)


def services(ctx: Context, label: str | None = None) -> list[str]:
    flt = f" --filter label={label}" if label else ""
    out = ctx.manager_sh(f"docker service ls{flt} --format '{{{{.Name}}}}'", teach=False, check=False)
    return out.stdout.split()


def inspect_service(ctx: Context, name: str) -> dict:
    out = ctx.manager_sh(f"docker service inspect {name}", teach=False, check=False)
    data = json.loads(out.stdout or "[]") if out.ok else []
    return data[0] if data else {}


def service_image(info: dict) -> str:
    return ((info.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")


def update_state(info: dict) -> str:
    return (info.get("UpdateStatus") or {}).get("State", "")


def replicas_of(info: dict) -> int:
    return int((((info.get("Spec") or {}).get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0))


def placement(tasks: list[Task]) -> str:
    """'worker1 2, worker2 1' for the closing lines."""
    counts = per_node(tasks)
    return ", ".join(f"{node} {n}" for node, n in sorted(counts.items())) or "none"
