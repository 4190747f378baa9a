"""What each Invoke task does. tasks.py only parses flags and calls these.

Data flows one way: lab.yaml -> config -> nodes -> probe -> steps -> checks
-> run record.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import docker
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import config as configmod
from . import host, hostkeys, images, lock, nodes, practice, probe, providers
from . import offline, overlap
from .runlog import LabError, Run
from .steps import Context, converge
from .checks import e2e, node_down, smoke
from .drills import command as drill_command
from .steps import app_images, deploy, order, registry

CLUSTER_STEPS = order.CLUSTER
console = Console(highlight=False, soft_wrap=True)


def load_config(path: str) -> configmod.LabConfig:
    try:
        return configmod.load(path)
    except configmod.ConfigError as exc:
        console.print(f"[red bold]lab.yaml is not valid:[/red bold] {exc}")
        raise SystemExit(2) from None


@contextmanager
def lab_run(config: configmod.LabConfig, command: str, explain: bool = False):
    """A run with its record, alone on its lab; a LabError ends it with a clear
    message, exit 1. The record never stays "running", whatever ends the run."""
    held = lock.LabLock(nodes.own_dir(config), f"lab.{command}")
    try:
        stale = held.acquire()
    except LabError as exc:
        # Refused before a run record exists: the running command's stays the latest.
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}\n  next: {escape(exc.hint)}")
        raise SystemExit(1) from None
    try:
        run = Run(nodes.state_dir(config), command, explain=explain, console=console, lab=config.name)
    except BaseException:
        held.release()
        raise
    try:
        if stale:
            run.note(f"took over the lock of `invoke {stale.get('command')}` (pid {stale.get('pid')}), "
                     "which ended without releasing it")
        yield run
    except LabError as exc:
        run.fail(exc)
        run.finish("failed")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: run the same command again; it continues where it stopped")
        run.finish("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        # A bug still ends the record; its traceback goes to the log, masked like the rest.
        run.fail(LabError(f"unexpected {type(exc).__name__}: {exc}", output=traceback.format_exc(),
                          hint="the lab did not expect this (a bug in the lab): the traceback is above "
                               "and in the full log; the command can be run again"))
        run.finish("failed")
        raise SystemExit(1) from None
    except BaseException as exc:
        run.finish("ok" if isinstance(exc, SystemExit) and not exc.code else "failed")
        raise
    else:
        run.finish("ok")
    finally:
        held.release()


def provider_for(config: configmod.LabConfig, run: Run) -> providers.Provider:
    choice = providers.choose(config)
    run.note(f"provider: {choice.name} ({choice.why})")
    providers.record(config, choice)
    return choice.provider


def bring_nodes_up(config: configmod.LabConfig, run: Run) -> nodes.Cluster:
    provider = provider_for(config, run)
    provider.prepare(config, run)
    return provider.up(config, run)


def cluster_context(config: configmod.LabConfig, cluster: nodes.Cluster, run: Run) -> Context:
    with run.step("probe: what the node kernels can do") as step:
        caps = probe.probe(run, cluster.manager, config.manager.name)
        step.detail = (f"IPVS {'yes' if caps.ipvs else 'no'}, NFS {'yes' if caps.nfs else 'no'}, "
                       f"cgroup v{caps.cgroup}, {caps.memory_mb} MiB")
    for line in caps.stand_ins():
        run.note(f"stand-in: {line}")
    resolver = host.host_resolver() if not caps.own_resolver else ""
    return Context(config, cluster, caps, run, resolver, nodes.state_dir(config), patience(config))


def chosen_provider(config: configmod.LabConfig) -> dict:
    """The provider the last lab.up chose, and why ({} before the first)."""
    return providers.recorded(config)


def patience(config: configmod.LabConfig) -> float:
    """How much longer the lab's waits may last on this lab's nodes (see Context)."""
    return providers.current(config).patience(config) if chosen_provider(config) else 1.0


def run_cluster_steps(ctx: Context, images: list[str] | None = None) -> None:
    """The cluster's steps as a graph (order.NEEDS), printed in their order;
    `images`: build and push these too, as soon as the registry is up, while
    the rest of the cluster's steps go on."""
    # From a bundle (LAB_BUNDLE): two offline steps join in (lab/offline.py).
    modules, needs = offline.with_bundle(CLUSTER_STEPS, order.NEEDS)

    def step(module):
        return lambda view: converge(dataclasses.replace(ctx, run=view), module)
    jobs = [overlap.Job(m.NAME, step(m), tuple(n.NAME for n in needs.get(m, ()))) for m in modules]
    if images:
        jobs.append(overlap.Job(app_images.NAME, lambda view: app_images.build_all(
            dataclasses.replace(ctx, run=view), images), (registry.NAME,)))
    overlap.run_jobs(ctx.run, jobs, at_once=order.cluster_at_once(ctx.caps.cpus))


# -- tasks ------------------------------------------------------------------

def box_build(path: str, explain: bool) -> None:
    config = load_config(path)
    with lab_run(config, "box.build", explain) as run:
        env = providers.get("libvirt").prepare_machines(config, run)
        run.note(f"Vagrantfile environment: {' '.join(f'{k}={v}' for k, v in env.items())}")

def nodes_up(path: str, explain: bool) -> None:
    config = load_config(path)
    with lab_run(config, "nodes.up", explain) as run:
        bring_nodes_up(config, run).close()


def nodes_status(path: str) -> None:
    config = load_config(path)
    rows = nodes.describe(config, providers.current(config).status(config))
    table = Table("node", "role", "address", "state", "SSH port")
    for r in rows:
        table.add_row(r["name"], r["role"], r["address"], r["state"], str(r["ssh_port"] or "-"))
    console.print(table)


def nodes_destroy(path: str) -> None:
    config = load_config(path)
    with lab_run(config, "nodes.destroy") as run:
        destroy_nodes(config, run)


def destroy_nodes(config: configmod.LabConfig, run: Run, everything: bool = False) -> None:
    """The provider removes what the lab made: machines and what `vagrant
    destroy` leaves, or on servers the lab does not own only its traces."""
    provider = providers.current(config)
    with run.step(f"nodes: destroy ({provider.name})") as step:
        removed = provider.destroy(config, run, everything)
        practice.forget(config)
        # The next nodes are met anew (servers of an ssh lab too: they may be reinstalled).
        hostkeys.forget(nodes.known_hosts(config))
        if removed:
            step.changed("; ".join(removed))
        else:
            step.detail = "nothing was up"


def ssh(path: str, node: str, command: str | None) -> None:
    config = load_config(path)
    config.node(node)
    cluster = nodes.kept_cluster(config)
    if cluster is None:
        console.print("[red]the lab is not up[/red]: run `invoke lab.up` (or lab.nodes.up) first")
        raise SystemExit(1)
    s = cluster.settings[node]
    # The lab's own known_hosts: a key it already recorded must match.
    argv = ["ssh", "-q", *hostkeys.openssh_options(nodes.known_hosts(config)),
            *(["-o", "IdentitiesOnly=yes", "-i", s.identity] if s.identity else []),
            "-p", str(s.port), f"{s.user}@{s.hostname}"]
    if command:
        argv.append(command)
    raise SystemExit(subprocess.call(argv))


def cluster(path: str, explain: bool) -> None:
    config = load_config(path)
    with lab_run(config, "cluster", explain) as run:
        c = nodes.kept_cluster(config)
        if c is None or nodes.unreachable(c, config.nodes):
            raise LabError("the nodes are not up", hint="run `invoke lab.up` (or lab.nodes.up) first")
        run_cluster_steps(cluster_context(config, c, run))


def practice_guard(config: configmod.LabConfig, yes: bool) -> None:
    """A lab in guided practice: lab.up would do the trainee's remaining steps."""
    state = practice.load(config)
    key = practice.current(state) if state else None
    if key is None:
        return
    console.print(f"[yellow]this lab is in guided practice[/yellow] (step {practice.KEYS.index(key)}: {key}): "
                  "lab.up would finish the remaining steps for the trainee")
    if not yes and sys.stdin.isatty():
        console.print("run it again with --yes to do that, or go on with: invoke lab.practice.check")
        raise SystemExit(1)


def up(path: str, explain: bool, yes: bool = False) -> None:
    config = load_config(path)
    practice_guard(config, yes)
    with lab_run(config, "up", explain) as run:
        c = bring_nodes_up(config, run)
        ctx = cluster_context(config, c, run)
        run_cluster_steps(ctx, images=deploy.render(ctx).images())
        drill_command.after_up(ctx)
        deploy.converge(ctx)
        smoke.smoke(config, run)
        if practice.finish_all(config):
            run.note("guided practice: the remaining steps are marked solved by the lab")
        c.close()
        console.print(f"\n[bold]Open[/bold] {config.web_url}login  [dim](API: {config.api_url})[/dim]")


def destroy(path: str, everything: bool) -> None:
    """Remove everything the lab made; caches stay unless `everything`."""
    config = load_config(path)
    with lab_run(config, "destroy") as run:
        destroy_nodes(config, run, everything)
        if everything:
            with run.step("caches: images and apt cache") as step:
                gone = remove_caches(config, run)
                step.detail = ", ".join(gone) or "no caches"


def remove_caches(config: configmod.LabConfig, run: Run) -> list[str]:
    gone = []
    if host.docker_engine_running():
        client = docker.from_env()
        for image in (images.node_image_name(config.name), images.BASE_IMAGE):
            try:
                client.images.remove(image, force=True)
                gone.append(image)
            except docker.errors.ImageNotFound:
                pass
    for sub in ("cache", "shared", "secrets"):
        target = nodes.state_dir(config) / sub
        if target.exists():
            shutil.rmtree(target)
            gone.append(f".lab/{sub}")
    for g in gone:
        run.log(f"removed {g}")
    return gone


def reachable_cluster(config: configmod.LabConfig) -> nodes.Cluster:
    """The lab's connections, for commands that need every node (practice,
    demos); lab.check reports a node down instead (checks.node_down)."""
    c = nodes.kept_cluster(config)
    down = nodes.unreachable(c, config.nodes) if c else [n.name for n in config.nodes]
    if down:
        raise LabError(f"the lab is not up (no answer from {', '.join(down)})",
                       hint="bring it up with: invoke lab.up")
    return c


def check(path: str, junit: str | None, drill: bool, real_browser: bool) -> None:
    config = load_config(path)
    with lab_run(config, "check") as run:
        c, down = node_down.cluster_and_down(config)
        ctx = cluster_context(config, c, run)
        if down:
            node_down.report(ctx, down)
        outcomes = e2e.run_checks(ctx, drill=drill and not down, real_browser=real_browser)
        if junit:
            e2e.write_junit(outcomes, Path(junit))
            run.note(f"JUnit XML: {junit}")
        if down:
            node_down.conclude(ctx, down, outcomes)
        failed = [o.name for o in outcomes if not o.ok]
        c.close()
        if failed:
            raise LabError(f"{len(failed)} of {len(outcomes)} checks failed: {'; '.join(failed)}",
                           hint="each failure is printed above; fix it (or run `invoke lab.up`) and check again")
        run.note(f"{len(outcomes)} checks passed")


def status_data(config: configmod.LabConfig) -> dict:
    """Everything lab.status shows; the JSON keys are documented in the README."""
    provider = chosen_provider(config)
    runs = lab_runs(nodes.state_dir(config), config.name)
    machines = {m.name: m.state for m in providers.current(config).status(config)}
    data = {
        "provider": provider.get("provider"),
        "provider_reason": provider.get("why"),
        "stand_ins": [],
        "nodes": [],
        "services": [],
        "urls": {"web": f"{config.web_url}login", "api": config.api_url},
        "last_run": run_summary(runs[-1]) if runs else None,
    }
    c = nodes.kept_cluster(config)
    down = set(nodes.unreachable(c, config.nodes)) if c else {n.name for n in config.nodes}
    swarm_rows = {}
    if config.manager.name not in down:
        out = c.manager.run("docker node ls --format '{{json .}}'", hide=True, warn=True)
        swarm_rows = {r["Hostname"]: r for r in map(json.loads, out.stdout.splitlines()) if out.ok}
        svc = c.manager.run(f"docker stack services {config.stack_name} --format '{{{{json .}}}}'",
                            hide=True, warn=True)
        for row in map(json.loads, svc.stdout.splitlines() if svc.ok else []):
            running_, wanted = deploy.replicas(row)
            data["services"].append({"name": row["Name"], "replicas_wanted": wanted,
                                     "replicas_running": running_})
    for n in config.nodes:
        row = swarm_rows.get(n.name, {})
        data["nodes"].append({
            "name": n.name, "role": n.role, "address": n.address,
            "state": "running" if n.name not in down else machines.get(n.name, "unknown"),
            "ssh": n.name not in down,
            "swarm_status": row.get("Status"), "availability": row.get("Availability"),
        })
    caps_file = latest_capabilities(runs)
    if caps_file:
        data["stand_ins"] = probe.Capabilities(**json.loads(caps_file.read_text())).stand_ins()
    if c:
        c.close()
    return data


def lab_runs(state: Path, lab: str) -> list[Path]:
    """Run folders of this lab, oldest first (runs recorded before run.json
    named its lab count for every lab)."""
    found = []
    for folder in sorted((state / "runs").glob("2*-*")) if (state / "runs").exists() else []:
        meta = folder / "run.json"
        if meta.exists() and json.loads(meta.read_text()).get("lab") in (None, lab):
            found.append(folder)
    return found


def run_summary(folder: Path) -> dict:
    meta = json.loads((folder / "run.json").read_text())
    return {"command": meta["command"], "started": meta["started"], "result": meta["result"],
            "dir": str(folder)}


def last_run(state: Path, lab: str) -> dict | None:
    runs = lab_runs(state, lab)
    return run_summary(runs[-1]) if runs else None


def latest_capabilities(runs: list[Path]) -> Path | None:
    found = [r / "capabilities.json" for r in runs if (r / "capabilities.json").exists()]
    return found[-1] if found else None


def status(path: str, as_json: bool) -> None:
    config = load_config(path)
    data = status_data(config)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.print(f"provider: [bold]{data['provider'] or 'not chosen yet'}[/bold]"
                  + (f" ({data['provider_reason']})" if data["provider_reason"] else ""))
    for s in data["stand_ins"]:
        console.print(f"stand-in: {s}")
    table = Table("node", "role", "address", "state", "swarm", "availability")
    for n in data["nodes"]:
        table.add_row(n["name"], n["role"], n["address"], n["state"], n["swarm_status"] or "-",
                      n["availability"] or "-")
    console.print(table)
    if data["services"]:
        services = Table("service", "replicas")
        for s in data["services"]:
            services.add_row(s["name"], f"{s['replicas_running']}/{s['replicas_wanted']}")
        console.print(services)
    console.print(f"web: {data['urls']['web']}   api: {data['urls']['api']}")
    if data["last_run"]:
        lr = data["last_run"]
        console.print(f"last run: {lr['command']} {lr['result']} ({lr['started']})")


def down(path: str) -> None:
    """Stop the nodes; their disks, the swarm state and every cache stay."""
    config = load_config(path)
    with lab_run(config, "down") as run:
        with run.step("nodes: halt") as step:
            stopped = providers.current(config).halt(config, run)
            if stopped:
                step.changed(f"stopped {', '.join(stopped)}")
            else:
                step.detail = "nothing was running"


def report(path: str) -> None:
    from .runlog import read_steps
    config = load_config(path)
    lr = last_run(nodes.state_dir(config), config.name)
    if not lr:
        console.print("no run recorded yet: run `invoke lab.up`")
        return
    table = Table("step", "node", "outcome", "seconds", "stand-in", title=f"{lr['command']}: {lr['result']} ({lr['started']})")
    total = 0.0
    for s in read_steps(Path(lr["dir"])):
        total += s["seconds"]
        table.add_row(s["name"], s["node"] or "", s["outcome"], f"{s['seconds']:.1f}", s["stand_in"] or "")
    console.print(table)
    console.print(f"total {total:.1f}s; full log: {lr['dir']}/run.log")
