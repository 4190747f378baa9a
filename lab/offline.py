"""lab.up from a bundle (`./labctl up --bundle`, which sets LAB_BUNDLE): two
steps join the cluster steps so that nothing is fetched from outside.

- before Docker is installed: every node's apt reads the bundle's repository
  only (the node containers mount the host's apt cache, where labctl put the
  verified bundle, at /var/cache/lab-apt);
- before the registry: the manager's engine loads registry:2 and the app's
  images from the bundle, so none is built (a build would apt-get from Debian).
"""
from __future__ import annotations

import os
from pathlib import Path
from shlex import quote

from . import bundle
from .remote import on_each
from .runlog import LabError

REPO = f"{bundle.NODE_PATH}/apt"
SOURCE = f"deb [trusted=yes] file:{REPO} ./"
LIST = "/etc/apt/sources.list.d/lab-bundle.list"
# The node's own sources are kept here, not deleted: `mv` them back to go online.
KEPT = "/etc/apt/lab-online"

SOURCES = ("cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "
           "2>/dev/null | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$'")
POINT = f"""
set -e
test -f {REPO}/Packages
mkdir -p {KEPT}
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
  if [ -e "$f" ] && [ "$f" != {LIST} ]; then mv "$f" {KEPT}/; fi
done
echo {quote(SOURCE)} > {LIST}
rm -rf /var/lib/apt/lists/*
mkdir -p /var/lib/apt/lists/partial
apt-get update -q
""".strip()


def folder() -> Path | None:
    value = os.environ.get("LAB_BUNDLE")
    return Path(value) if value else None


class _Step:
    """A cluster step (see lab/steps/__init__.py) only lab.up from a bundle runs."""


class AptSource(_Step):
    NAME = "offline: the nodes' apt reads the bundle only"

    @staticmethod
    def teach(ctx):
        return [("every node", f"echo '{SOURCE}' | sudo tee {LIST}"), ("every node", "sudo apt-get update")]

    @staticmethod
    def check(ctx) -> list[str]:
        seen = on_each(ctx.config.nodes, lambda n: ctx.sh(n.name, SOURCES, check=False, teach=False).out)
        return [f"{n.name}: apt reads {'; '.join(text.splitlines()) or 'nothing'}"
                for n, text in zip(ctx.config.nodes, seen) if text.strip() != SOURCE]

    @staticmethod
    def apply(ctx, step, missing) -> None:
        for node, command in AptSource.teach(ctx):
            ctx.run.show_command(node, command)
        mounted = on_each(ctx.config.nodes,
                          lambda n: ctx.sh(n.name, f"test -f {REPO}/Packages", check=False, teach=False).ok)
        lacking = [n.name for n, ok in zip(ctx.config.nodes, mounted) if not ok]
        if lacking:
            raise LabError(f"the bundle's repository is not at {REPO} on {', '.join(lacking)}",
                           hint="lab.up from a bundle reads it through the host's apt cache that node "
                                "containers mount; VMs (libvirt) cannot use a bundle yet")
        on_each(ctx.config.nodes, lambda n: ctx.sh(n.name, POINT, teach=False, timeout=300,
                                                   shown=f"point apt at {REPO}"))
        step.detail = f"apt on {len(ctx.config.nodes)} nodes reads {REPO} only"


class ManagerImages(_Step):
    NAME = "offline: registry:2 and the app's images from the bundle"

    @staticmethod
    def wanted() -> dict[str, str]:
        return bundle.read_manifest(folder())["images"]["manager"]

    @staticmethod
    def teach(ctx):
        return [(ctx.config.manager.name, f"docker load -i {bundle.NODE_PATH}/images/manager.tar.gz")]

    @staticmethod
    def check(ctx) -> list[str]:
        wanted = ManagerImages.wanted()
        names = " ".join(quote(n) for n in sorted(wanted))
        out = ctx.manager_sh(f"for i in {names}; do printf '%s\\t%s\\n' \"$i\" "
                             f"\"$(docker image inspect --format '{{{{.Id}}}}' \"$i\" 2>/dev/null)\"; done",
                             check=False, teach=False)
        have = dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
        return [f"{ctx.config.manager.name}: image {n} not loaded" for n, i in sorted(wanted.items())
                if have.get(n) != i]

    @staticmethod
    def apply(ctx, step, missing) -> None:
        for node, command in ManagerImages.teach(ctx):
            ctx.run.show_command(node, command)
        path = f"{bundle.NODE_PATH}/images/manager.tar.gz"
        if ctx.manager_sh(f"test -f {path}", check=False, teach=False).ok:
            ctx.manager_sh(f"docker load -q -i {path}", teach=False, timeout=1200)
        else:
            with open(folder() / "images" / "manager.tar.gz", "rb") as f:
                ctx.manager_sh("docker load -q", in_stream=f, teach=False, timeout=1200)
        step.detail = f"loaded {len(ManagerImages.wanted())} images"


def with_bundle(steps: tuple, needs: dict) -> tuple[tuple, dict]:
    """The cluster steps and what each waits for, with the two offline steps
    when LAB_BUNDLE is set: apt reads the bundle before docker.io is
    installed, and the registry waits for its image to be loaded, which waits
    for what the registry waited for."""
    if folder() is None:
        return steps, needs
    from .steps import docker as docker_step, registry
    out = []
    for module in steps:
        if module is docker_step:
            out.append(AptSource)
        if module is registry:
            out.append(ManagerImages)
        out.append(module)
    graph = dict(needs)
    graph[AptSource] = ()
    graph[docker_step] = tuple(needs.get(docker_step, ())) + (AptSource,)
    graph[ManagerImages] = tuple(needs.get(registry, ()))
    graph[registry] = (ManagerImages,)
    return tuple(out), graph


def mirror() -> str | None:
    """The Debian mirror the bundle's base image was made from: the lab labels
    the base with it, and a laptop offline has no mirror of its own."""
    where = folder()
    return bundle.read_manifest(where).get("mirror") if where else None
