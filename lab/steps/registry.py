"""Tutorial step 5: a registry on the manager, port 4000, that every node trusts."""
from __future__ import annotations

import json
import time

from .. import texts
from ..build import build, ensure_base, tree
from ..remote import on_each, together
from ..runlog import LabError
from . import Context, Problem

NAME = "registry: registry:2 on the manager"
IMAGE = "registry:2"
CONTAINER = "registry"
VOLUME = "registry-data"
# Where the volume keeps the registry's storage on the manager. On node
# containers that directory is a host cache kept by `lab.destroy`, so pushed
# images outlive the lab and a warm lab.up builds and pushes nothing again.
STORAGE = "/var/lib/lab-registry"


def run_command(ctx: Context) -> str:
    # The tutorial's line, with two changes: the storage on a named volume so
    # pushed images survive a re-created container, and the port published on
    # the manager's lab address only. The registry has no login: published on
    # every address (the tutorial's -p 4000:5000), anyone who reaches the
    # manager by another network could push an image the swarm then runs.
    # The nodes name it by that address anyway (daemon.json, image tags).
    return (f"docker run -d -p {ctx.config.manager.address}:{ctx.config.registry_port}:5000 "
            f"--restart=always --name {CONTAINER} -v {VOLUME}:/var/lib/docker-registry {IMAGE}")


def why(ctx: Context, lang: str = "en") -> str | None:
    return texts.step("registry", lang)["why"].strip()


def teach(ctx: Context) -> list[tuple[str, str]]:
    # The registry takes a moment to listen after `docker run -d` returns;
    # typed at once, a plain curl is refused (CI did, under load). curl waits.
    return [(ctx.config.manager.name, run_command(ctx)),
            ("every node", f"curl --retry 10 --retry-connrefused --retry-delay 1 "
                           f"http://{ctx.config.registry}/v2/_catalog")]


def catalog_from(ctx: Context, node: str) -> list[str] | None:
    out = ctx.sh(node, f"curl -fsS --max-time 5 http://{ctx.config.registry}/v2/_catalog",
                 check=False, teach=False)
    if not out.ok:
        return None
    try:
        return json.loads(out.out).get("repositories") or []
    except json.JSONDecodeError:
        return None


def container_state(ctx: Context) -> dict | None:
    out = ctx.manager_sh(f"docker inspect {CONTAINER}", check=False, teach=False)
    return json.loads(out.out)[0] if out.ok else None


def running_registries(ctx: Context) -> dict[str, str]:
    """Running containers of registry:2, whatever their name: name -> ports."""
    out = ctx.manager_sh(f"docker ps --filter ancestor={IMAGE} --format '{{{{.Names}}}}\t{{{{.Ports}}}}'",
                         check=False, teach=False)
    return dict((line.split("\t") + [""])[:2] for line in out.stdout.splitlines() if line.strip())


def check(ctx: Context) -> list[str]:
    m = ctx.config.manager.name
    port = ctx.config.registry_port
    # The container and every node's view of the catalog in one round trip's
    # time; the answers are judged in this order all the same.
    found, catalogs = together(lambda: running_registries(ctx),
                               lambda: on_each(ctx.config.nodes, lambda n: catalog_from(ctx, n.name)))
    if not found:
        return [Problem("registry_not_running", node=m, image=IMAGE, port=port)]
    # The lab publishes on the manager's address; a trainee who types the
    # tutorial's plain -p {port}:5000 is right too (docker shows 0.0.0.0:port).
    if not any(published_for_nodes(ports, ctx.config.manager.address, port) for ports in found.values()):
        shown = "; ".join(f"{name}: {ports or 'no published port'}" for name, ports in found.items())
        return [Problem("registry_wrong_port", node=m, port=port, found=shown)]
    unread = [n.name for n, cat in zip(ctx.config.nodes, catalogs) if cat is None]
    return [Problem("registry_unreadable", node=n, registry=ctx.config.registry) for n in unread]


def published_for_nodes(ports: str, address: str, port: int) -> bool:
    """Whether `docker ps`'s Ports column publishes the registry where the
    nodes look for it: on the manager's lab address or on every address."""
    for mapping in (p.strip() for p in ports.split(",")):
        host, _, target = mapping.rpartition("->")
        if target != "5000/tcp":
            continue
        if host in (f"{address}:{port}", f"0.0.0.0:{port}", f":::{port}", f"[::]:{port}"):
            return True
    return False


def port_holder(ctx: Context) -> str | None:
    """What else listens on the registry port on the manager, if anything."""
    port = ctx.config.registry_port
    out = ctx.manager_sh(f"ss -Hltnp 'sport = :{port}'", check=False, teach=False).out
    if not out:
        return None
    return out


def ensure_image(ctx: Context) -> str:
    """registry:2 in the manager's engine. Nothing can be pulled here: the lab
    builds it from Debian's docker-registry (without its htpasswd auth), or
    loads the copy it saved on the host. How it came: "built", "loaded", ""."""
    m = ctx.config.manager.name
    made = build(ctx, m, IMAGE, tree(ctx.config.root / "provision" / "registry"), what="registry")
    # The base stays on the manager for the images and a trainee's docker build;
    # the host's saved copy of registry:2 usually brought it already.
    ensure_base(ctx, m)
    return made


def apply(ctx: Context, step, missing) -> None:
    m = ctx.config.manager.name
    ensure_volume(ctx)
    built = ensure_image(ctx)
    state = container_state(ctx)
    if state and (built or state["Config"]["Image"] != IMAGE or not state["State"]["Running"]):
        ctx.manager_sh(f"docker rm -f {CONTAINER}")
        state = None
    if state is None:
        holder = port_holder(ctx)
        if holder:
            raise LabError(f"port {ctx.config.registry_port} is already taken on {m}",
                           node=m, command=f"ss -ltnp 'sport = :{ctx.config.registry_port}'", output=holder,
                           hint=f"stop what listens there on {m}, or set registry_port in lab.yaml")
        ctx.manager_sh(run_command(ctx))
    wait_catalog(ctx)
    step.detail = {"built": "image built; ", "loaded": "image loaded from the host's copy; "}.get(built, "") \
        + "container started"


def ensure_volume(ctx: Context) -> None:
    """The named volume of the tutorial's run line, its data in STORAGE."""
    if ctx.manager_sh(f"docker volume inspect {VOLUME}", check=False, teach=False).ok:
        return
    ctx.manager_sh(f"mkdir -p {STORAGE} && docker volume create --driver local --opt type=none "
                   f"--opt o=bind --opt device={STORAGE} {VOLUME}")


def wait_catalog(ctx: Context, seconds: int = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if catalog_from(ctx, ctx.config.manager.name) is not None:
            return
        time.sleep(0.5)
    logs = ctx.manager_sh(f"docker logs --tail 20 {CONTAINER}", check=False, teach=False)
    raise LabError("the registry does not answer on its port", node=ctx.config.manager.name,
                   command=f"curl http://{ctx.config.registry}/v2/_catalog", output=logs.stdout + logs.stderr)
