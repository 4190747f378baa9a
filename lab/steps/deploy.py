"""Tutorial step 8: `docker stack deploy -c docker-compose.yaml musicapp`,
then wait until every service runs its full replica count."""
from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import time
from typing import NamedTuple

from .. import stack
from ..remote import on_each, together
from ..statefiles import write_atomic
from .app_images import MANIFEST_V2
from ..runlog import LabError
from . import Context, Problem, app_source

NAME = "stack: docker stack deploy"
# Where guided practice puts the stack file with the stand-ins, when the node
# kernels need them (the trainee deploys it instead of the tutorial's file).
STAND_IN_FILE = "~/lab-stand-in/docker-compose.yaml"

SECRETS = ("db_password", "access_token_key", "refresh_token_key")
STAMP = "/var/lib/lab-stack.sha256"
CONVERGE_SECONDS = 300
# Swarm creates a new deploy's tasks within a second or two: past this, a
# service with fewer tasks meant to run than the stack file asks for will not
# get them by itself. Looked at again as often as NUDGE_EVERY: cheap, and safe
# to do often, since only a service with no task on its way is forced (a slow
# pull is never thrown away). After `lab.down` the workers' engines come back
# one by one, and each one's stopped tasks are forced within seconds of it.
NUDGE_AFTER = 3
NUDGE_EVERY = 5
# Overrides the limit (CONVERGE_SECONDS times the context's patience).
CONVERGE_ENV = "LAB_CONVERGE_SECONDS"
# Docker 20.10 (Debian 12's docker.io) can hold a task 30 s when its node
# joins two overlay networks at once: both joins sync with the same peer and
# one of the two syncs is never acknowledged (moby/moby#47396, #51701; later
# engines fixed it). About one deploy in six here (5 of 27 on 2026-12-02). A
# convergence slower than SLOW_CONVERGE seconds (times the patience) looks for
# it in the engines' logs, so that the wait is named instead of hunted for.
SLOW_CONVERGE = 25
ENGINE_STALL = "Bulk sync to node .* timed out"
STALL_NOTE = "the engine waited 30 s on a gossip sync that was never answered"


def lab_secrets(ctx: Context) -> dict[str, bytes]:
    """Generated once per lab and kept in .lab/secrets: a new swarm gets the
    same values, so data kept from an earlier lab stays readable."""
    folder = ctx.state_dir / "secrets"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    values = {}
    for name in SECRETS:
        path = folder / name
        if not path.exists():
            write_atomic(path, secrets.token_urlsafe(32))
        values[name] = path.read_bytes()
    return values


def ensure_swarm_secrets(ctx: Context) -> list[str]:
    existing = set(ctx.manager_sh("docker secret ls --format '{{.Name}}'", teach=False).stdout.split())
    created = []
    for name, value in lab_secrets(ctx).items():
        full = f"{ctx.config.stack_name}_{name}"
        if full in existing:
            continue
        ctx.run.show_command(ctx.config.manager.name, f"docker secret create {full} -")
        ctx.manager_sh(f"docker secret create {full} -", in_stream=io.BytesIO(value), teach=False)
        created.append(full)
    return created


def render(ctx: Context) -> stack.Rendered:
    source = (ctx.config.root / "compose" / "docker-compose.yaml").read_text()
    rendered = stack.render(source, ctx.config, ctx.caps)
    (ctx.run.dir / "docker-compose.rendered.yaml").write_text(rendered.text)
    return rendered


def image_digests(ctx: Context, rendered: stack.Rendered) -> str:
    """What the registry serves for each image: the tasks run exactly that
    (the manager's own engine need not hold the images at all)."""
    registry = ctx.config.registry
    heads = " ".join(f"http://{registry}/v2/{n}/manifests/latest" for n in rendered.images())
    out = ctx.manager_sh(f"for u in {heads}; do curl -fsSI -H 'Accept: {MANIFEST_V2}' $u "
                         "| grep -i '^docker-content-digest'; done", teach=False, check=False)
    return out.stdout.lower()


def fingerprint(ctx: Context, rendered: stack.Rendered, digests: str | None = None) -> str:
    digests = image_digests(ctx, rendered) if digests is None else digests
    return hashlib.sha256((rendered.text + digests).encode()).hexdigest()


def service_rows(ctx: Context) -> dict[str, dict]:
    out = ctx.manager_sh(f"docker stack services {ctx.config.stack_name} --format '{{{{json .}}}}'",
                         check=False, teach=False)
    rows = [json.loads(l) for l in out.stdout.splitlines() if l.strip()] if out.ok else []
    prefix = f"{ctx.config.stack_name}_"
    return {r["Name"][len(prefix):]: r for r in rows if r["Name"].startswith(prefix)}


def replicas(row: dict | None) -> tuple[int, int]:
    """(running, desired) from `docker stack services` ("2/2", "1/1 (max 1 per node)")."""
    if not row:
        return 0, 0
    running, desired = row.get("Replicas", "0/0").split(" ")[0].split("/")
    return int(running), int(desired)


def lagging(ctx: Context, rendered: stack.Rendered) -> dict[str, str]:
    """Services not at the replica count the stack file asks for, whether
    they are still starting or were scaled by hand: name -> "running/wanted"."""
    wanted = stack.expected_replicas(rendered, workers=len(ctx.config.workers))
    rows = service_rows(ctx)
    behind = {}
    for name, want in wanted.items():
        running, desired = replicas(rows.get(name))
        if desired != want:
            behind[name] = f"{running}/{desired} (the stack file asks for {want})"
        elif running != want:
            behind[name] = f"{running}/{want}"
    for name, state in updating(ctx, [n for n in wanted if n in rows], wanted).items():
        behind.setdefault(name, f"update {state}")
    return behind


# A service's update state while its tasks are still being replaced.
IN_UPDATE = ("updating", "rollback_started")


def updating(ctx: Context, names: list[str], wanted: dict[str, int]) -> dict[str, str]:
    """Services in the middle of a rolling update: full replicas is not the end
    of it, the remaining tasks are still to be replaced. An update that has
    replaced every task, as many running as the stack file asks for, is over
    for the lab: swarm still watches the new tasks for a while (the update's
    monitor, 5 s) before it calls the update completed, but nothing is left
    to replace.
    lab.up and lab.check read it alike (a lab.up that returned on it and a
    lab.check that failed on it right after would only move the wait)."""
    facts = update_facts(ctx, names)
    done = replaced(ctx, {name: f for name, f in facts.items() if f.state == "updating" and f.started}, wanted)
    return {name: f.state for name, f in facts.items() if f.state in IN_UPDATE and name not in done}


class UpdateFacts(NamedTuple):
    """What `docker service inspect` says of a service's update."""
    id: str
    state: str
    parallelism: str
    started: int | None  # ns since the epoch


def update_facts(ctx: Context, names: list[str]) -> dict[str, UpdateFacts]:
    """For each service, in one query: its id, its update state ("" when
    none), its update parallelism and when its update started (ns)."""
    if not names:
        return {}
    prefix = f"{ctx.config.stack_name}_"
    out = ctx.manager_sh("docker service inspect --format "
                         "'{{.Spec.Name}} {{.ID}} {{.Spec.UpdateConfig.Parallelism}} "
                         "{{if .UpdateStatus}}{{.UpdateStatus.State}} "
                         "{{if .UpdateStatus.StartedAt}}{{.UpdateStatus.StartedAt.UnixNano}}{{end}}{{end}}' "
                         + " ".join(prefix + n for n in names), check=False, teach=False)
    facts = {}
    for line in out.stdout.splitlines():
        name, id, parallelism, state, started = (line.split() + ["", "", "", "", ""])[:5]
        if name.startswith(prefix):
            facts[name[len(prefix):]] = UpdateFacts(id, state, parallelism,
                                                    int(started) if started.isdigit() else None)
    return facts


def replaced(ctx: Context, started: dict[str, UpdateFacts], wanted: dict[str, int]) -> set[str]:
    """Of services in an update that has started, those whose every
    task meant to run was created by the update and is running, and as many
    as wanted: in one query. (Between stopping an old task and starting its
    replacement, the new ones alone are meant to run: fewer than wanted.)"""
    if not started:
        return set()
    prefix = f"{ctx.config.stack_name}_"
    out = ctx.manager_sh("t=$(docker service ps -q --no-trunc --filter desired-state=running "
                         + " ".join(prefix + n for n in started) + ") && [ -n \"$t\" ] && "
                         "docker inspect --format '{{.ServiceID}} {{.Meta.CreatedAt.UnixNano}} {{.Status.State}}' $t",
                         check=False, teach=False)
    if not out.ok:
        return set()
    by_id = {f.id: name for name, f in started.items()}
    new = dict.fromkeys(started, 0)
    old = set()
    for line in out.stdout.splitlines():
        service, created, state = (line.split() + ["", "", ""])[:3]
        name = by_id.get(service)
        if name is None:
            continue
        if not created.isdigit() or int(created) < started[name].started or state != "running":
            old.add(name)
        else:
            new[name] += 1
    return {name for name, count in new.items() if name not in old and count >= wanted.get(name, 1)}


def tasks_meant_to_run(ctx: Context, names: list[str]) -> dict[str, int]:
    """How many tasks swarm means to run for each service, in one query."""
    if not names:
        return {}
    prefix = f"{ctx.config.stack_name}_"
    out = ctx.manager_sh("docker service ps --filter desired-state=running --format '{{.Name}}' "
                         + " ".join(prefix + n for n in names), check=False, teach=False)
    counts = dict.fromkeys(names, 0)
    for task in out.stdout.split():
        # replicated: musicapp_backend.1; global: musicapp_mesh.<node id>
        service = task[len(prefix):].rsplit(".", 1)[0] if task.startswith(prefix) else None
        if service in counts:
            counts[service] += 1
    return counts


def stale(ctx: Context, rendered: stack.Rendered) -> tuple[list[str], dict[str, str]]:
    """What keeps the stack from being as lab.up leaves it, and the services
    behind (lagging)."""
    stamp, digests, behind = together(
        lambda: ctx.manager_sh(f"cat {STAMP} 2>/dev/null || true", teach=False).out,
        lambda: image_digests(ctx, rendered),
        lambda: lagging(ctx, rendered))
    problems = []
    if stamp != fingerprint(ctx, rendered, digests):
        problems.append("stack not deployed from the current file and images")
    if behind:
        problems.append("not at full replicas: " + ", ".join(f"{k} {v}" for k, v in behind.items()))
    return problems, behind


def settle_removal(ctx: Context, seconds: int = 60) -> None:
    """`docker stack rm` returns before its networks are gone; deploying into
    networks that are being removed fails with "network ... not found"."""
    name = ctx.config.stack_name
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service_rows(ctx):
            return
        left = ctx.manager_sh(f"docker network ls -q --filter label=com.docker.stack.namespace={name}",
                              teach=False).out
        if not left:
            return
        time.sleep(1)


def deploy(ctx: Context, rendered: stack.Rendered, attempts: int = 3) -> None:
    name = ctx.config.stack_name
    ctx.run.show_command(ctx.config.manager.name, f"docker stack deploy -c docker-compose.yaml {name}")
    settle_removal(ctx)
    for attempt in range(1, attempts + 1):
        try:
            ctx.manager_sh(f"docker stack deploy --prune -c - {name}",
                           in_stream=io.BytesIO(rendered.text.encode()), teach=False, timeout=300)
            return
        except LabError as exc:
            if "not found" not in exc.output or attempt == attempts:
                raise
            ctx.run.log(f"deploy raced a removal in progress; retrying ({attempt}/{attempts})")
            time.sleep(3)


def wait_converged(ctx: Context, rendered: stack.Rendered, seconds: int | None = None) -> None:
    """A line per service as it reaches its replicas; on timeout, the tasks
    of the ones that did not, with their states (docker service ps)."""
    seconds = seconds or int(os.environ.get(CONVERGE_ENV, CONVERGE_SECONDS * ctx.patience))
    deadline = time.monotonic() + seconds
    wanted = stack.expected_replicas(rendered, workers=len(ctx.config.workers))
    done: set[str] = set()
    start = time.monotonic()
    next_nudge = start + NUDGE_AFTER * ctx.patience
    while time.monotonic() < deadline:
        behind = lagging(ctx, rendered)
        if behind and time.monotonic() > next_nudge:
            restart_stopped(ctx, behind, wanted)
            next_nudge = time.monotonic() + NUDGE_EVERY * ctx.patience
        for svc in wanted:
            if svc not in behind and svc not in done:
                done.add(svc)
                ctx.run.note(f"{ctx.config.stack_name}_{svc}: {wanted[svc]}/{wanted[svc]} running "
                             f"({time.monotonic() - start:.0f}s)")
        if not behind:
            restore_parallelism(ctx)
            took = time.monotonic() - start
            if took > SLOW_CONVERGE * ctx.patience:
                stalled = engine_stalls(ctx, took)
                if stalled:
                    ctx.run.note(f"{', '.join(stalled)}: {STALL_NOTE} (a known Docker 20.10 bug, "
                                 "moby/moby#47396), so a task started late; nothing to fix")
            return
        # Each poll is a few docker commands on the manager: on an emulated
        # manager they would take the CPU its registry needs to serve the pulls.
        time.sleep(ctx.patience)
    behind = lagging(ctx, rendered)
    tasks = "\n".join(
        ctx.manager_sh(f"docker service ps --no-trunc {ctx.config.stack_name}_{svc}", check=False,
                       teach=False).stdout for svc in behind)
    raise LabError(
        f"the stack did not converge within {seconds}s: " + ", ".join(f"{k} {v}" for k, v in behind.items()),
        command=f"docker service ps --no-trunc {ctx.config.stack_name}_{next(iter(behind))}",
        node=ctx.config.manager.name, output=tasks,
        hint="the task states above say why (REJECTED, FAILED...); fix it and run lab.up again")


def engine_stalls(ctx: Context, seconds: float) -> list[str]:
    """The nodes whose engine logged an unanswered bulk sync (ENGINE_STALL)
    in the last `seconds` (and a few more)."""
    command = (f"journalctl -t dockerd --since -{int(seconds) + 5}s --no-pager -q "
               f"| grep -c '{ENGINE_STALL}' || true")
    counts = on_each(ctx.config.nodes, lambda n: ctx.sh(n.name, command, check=False, teach=False).stdout.strip())
    return [n.name for n, count in zip(ctx.config.nodes, counts) if count.isdigit() and int(count) > 0]


# Services whose update parallelism restart_stopped changed: name -> the
# value to put back (the stack file's) once they have converged.
_parallelism_to_restore: dict[str, str] = {}


def restore_parallelism(ctx: Context) -> None:
    for full, parallelism in list(_parallelism_to_restore.items()):
        ctx.manager_sh(f"docker service update --detach --update-parallelism {parallelism} {full}", check=False)
        del _parallelism_to_restore[full]


def restart_stopped(ctx: Context, behind: dict[str, str], wanted: dict[str, int]) -> list[str]:
    """With the tutorial's `restart_policy: on-failure`, a task that exited 0
    (its node's engine was stopped: `lab.down`, a reinstall) is never replaced,
    and the service stays short of its replicas. Force new tasks for those
    services, and only those: a service whose tasks swarm still means to run
    (pulling, starting) is slow, not stuck, and forcing it would throw its
    pulls away.

    `wanted` is what the stack file asks for. Swarm's own count cannot say it:
    a global service whose only task completed reports 0 desired, not 1."""
    rows = service_rows(ctx)
    forced = []
    names = [n for n in behind if n in rows]
    meant = tasks_meant_to_run(ctx, names)
    facts = update_facts(ctx, names)
    for name in names:
        full = f"{ctx.config.stack_name}_{name}"
        want = max(wanted.get(name, 0), replicas(rows[name])[1])
        fact = facts.get(name, UpdateFacts("", "", "", None))
        state, parallelism = fact.state, fact.parallelism
        # A service in a rolling update (a forced one included) is short of
        # tasks on purpose while it replaces them: forcing again would restart it.
        if meant[name] >= want or state in IN_UPDATE:
            continue
        if replicas(rows[name])[0] == 0 and want > 1:
            # None running (after lab.down): no replica to keep serving, so all
            # of them start at once. A forced update's own order replaces them
            # one after another, each waiting for its health check (backend:
            # 2 x 15 s). The service's own parallelism is put back once it has
            # converged (wait_converged).
            _parallelism_to_restore[full] = parallelism if parallelism.isdigit() else "1"
            ctx.run.note(f"{full}: {meant[name]} of {want} tasks meant to run and none running: "
                         "forcing new tasks, all at once")
            ctx.manager_sh(f"docker service update --force --detach --update-parallelism 0 {full}", check=False)
        else:
            ctx.run.note(f"{full}: {meant[name]} of {want} tasks meant to run, none on its way for the rest: "
                         "forcing new tasks")
            ctx.manager_sh(f"docker service update --force --detach {full}", check=False)
        forced.append(name)
    return forced


def converge(ctx: Context) -> stack.Rendered:
    with ctx.run.step(f"stack: docker stack deploy {ctx.config.stack_name}") as step:
        rendered = render(ctx)
        for adaptation in rendered.adaptations:
            ctx.run.note(adaptation)
        if rendered.adaptations:
            step.standing_in("; ".join(a.removeprefix("stand-in: ") for a in rendered.adaptations
                                       if a.startswith("stand-in")))
        created, (problems, behind) = together(lambda: ensure_swarm_secrets(ctx), lambda: stale(ctx, rendered))
        if not problems:
            m = ctx.config.manager.name
            for command in (f"docker stack deploy -c docker-compose.yaml {ctx.config.stack_name}",
                            f"docker stack services {ctx.config.stack_name}"):
                ctx.run.show_command(m, command)
            return rendered
        present = service_rows(ctx)
        if problems[0].startswith("not at full replicas") and all(s in present for s in rendered.services):
            # Same file and images, every service there: only tasks to replace.
            restart_stopped(ctx, behind, stack.expected_replicas(rendered, workers=len(ctx.config.workers)))
        else:
            deploy(ctx, rendered)
        wait_converged(ctx, rendered)
        ctx.manager_sh(f"echo {fingerprint(ctx, rendered)} > {STAMP}", teach=False)
        step.changed(closing_line(ctx, rendered, problems, present, created))
    return rendered


# -- the step as a trainee does it (check, teach) -------------------------------

def stack_file(ctx: Context, rendered: stack.Rendered) -> str:
    """The file a trainee deploys: the tutorial's own, or the one with stand-ins."""
    return STAND_IN_FILE if rendered.adaptations else f"{app_source.CLONE}/compose/docker-compose.yaml"


def secret_names(rendered: stack.Rendered) -> list[str]:
    return [s["name"] for s in (rendered.data.get("secrets") or {}).values() if s.get("external")]


def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager.name
    rendered = render(ctx)
    name = ctx.config.stack_name
    return ([(m, f"head -c 24 /dev/urandom | base64 | docker secret create {secret} -")
             for secret in secret_names(rendered)]
            + [(m, f"docker stack deploy -c {stack_file(ctx, rendered)} {name}"),
               (m, f"docker stack services {name}")])


def prepare(ctx: Context) -> None:
    """Where the kernels need stand-ins, the stack file with them, beside the
    trainee's clone (the same file lab.up deploys)."""
    rendered = render(ctx)
    if not rendered.adaptations:
        return
    folder = STAND_IN_FILE.rsplit("/", 1)[0]
    ctx.manager_sh(f"mkdir -p {folder} && cat > {STAND_IN_FILE}", sudo=False,
                   in_stream=io.BytesIO(rendered.text.encode()), teach=False)


def task_errors(ctx: Context, service: str) -> list[str]:
    out = ctx.manager_sh(f"docker service ps --no-trunc --format '{{{{.CurrentState}}}}|{{{{.Error}}}}' "
                         f"{ctx.config.stack_name}_{service}", check=False, teach=False)
    return [line.split("|", 1)[1] for line in out.stdout.splitlines() if "|" in line and line.split("|", 1)[1]]


def db_volume(ctx: Context) -> tuple[str, dict] | None:
    """(node, options) of the db's data volume as the engine running the db
    task has it. The stack file is not enough: a node keeps a volume's first
    definition until `docker volume rm`, whatever a later deploy says."""
    node = db_task_node(ctx)
    if node is None or node not in {n.name for n in ctx.config.nodes}:
        return None
    out = ctx.sh(node, f"docker volume inspect {ctx.config.stack_name}_db-data --format '{{{{json .Options}}}}'",
                 check=False, teach=False)
    try:
        return node, (json.loads(out.out) or {}) if out.ok else {}
    except json.JSONDecodeError:
        return node, {}


def db_task_node(ctx: Context) -> str | None:
    out = ctx.manager_sh(f"docker service ps {ctx.config.stack_name}_db --filter desired-state=running "
                         "--format '{{.Node}} {{.CurrentState}}'", check=False, teach=False)
    for line in out.stdout.splitlines():
        node, state = line.split(" ", 1)
        if state.startswith("Running"):
            return node
    return None


def on_export(ctx: Context, options: dict) -> bool:
    """An NFS mount of the export (VMs), or a bind of the shared directory
    that stands in for it (node containers)."""
    device = (options.get("device") or "").rstrip("/")
    if ctx.caps.nfs:
        return options.get("type") == "nfs" and device.endswith(ctx.config.export_path)
    return options.get("o") == "bind" and device == ctx.config.export_path


def check(ctx: Context) -> list[str]:
    """Every service of the stack at full replicas, the db on the export. Only
    real state: what swarm runs, not what the lab deployed."""
    rendered = render(ctx)
    m = ctx.config.manager.name
    rows = service_rows(ctx)
    if not rows:
        return [Problem("stack_not_deployed", node=m, stack=ctx.config.stack_name)]
    problems = []
    for name, state in lagging(ctx, rendered).items():
        if name not in rows:
            problems.append(Problem("stack_service_missing", node=m, service=name))
            continue
        errors = task_errors(ctx, name)
        no_image = [e for e in errors if "No such image" in e]
        if no_image:
            problems.append(Problem("stack_no_such_image", node=m, service=name, error=no_image[0]))
        else:
            problems.append(Problem("stack_not_full", node=m, service=name, state=state,
                                    error=errors[0] if errors else "-"))
    volume = db_volume(ctx) if "db" in rows else None
    if volume and not on_export(ctx, volume[1]):
        problems.append(Problem("stack_db_not_on_export", node=volume[0], path=ctx.config.export_path,
                                volume=f"{ctx.config.stack_name}_db-data"))
    return problems


def closing_line(ctx: Context, rendered: stack.Rendered, problems: list[str], present: dict[str, dict],
                 created: list[str]) -> str:
    """What converge did, for its tick; not the list of what its first check
    found missing (a green tick read "not at full replicas: mesh 0/0 ...")."""
    wanted = stack.expected_replicas(rendered, workers=len(ctx.config.workers))
    # The same choice converge made: only tasks to replace, or a deploy.
    if problems[0].startswith("not at full replicas") and all(s in present for s in rendered.services):
        short = [n for n in rendered.services if replicas(present[n]) != (wanted[n], wanted[n])]
        did = f"replaced stopped tasks of {', '.join(short)}" if short else "waited for a rolling update"
    else:
        did = "deployed"
    return ("secrets created; " if created else "") + f"{did}, {len(rendered.services)} services at full replicas"


def apply(ctx: Context, step, missing) -> None:
    """Deploy the rendered stack and wait for full replicas (lab.up's
    converge above also replaces only the tasks that stopped)."""
    rendered = render(ctx)
    deploy(ctx, rendered)
    wait_converged(ctx, rendered)
