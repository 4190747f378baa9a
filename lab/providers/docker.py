"""Nodes as containers (Vagrant's docker provider): systemd, sshd and a Docker
engine of their own in each; works wherever a Docker engine does."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Callable

import docker

from .. import host, images, nodes, resume
from ..config import LabConfig
from ..runlog import Run
from .vagrant import VagrantProvider


class DockerProvider(VagrantProvider):
    name = "docker"
    chosen_because = "nodes are containers (Vagrant's docker provider)"

    def available(self, config: LabConfig) -> str | None:
        if not shutil.which("docker"):
            return "no Docker client (apt-get install docker.io)"
        return None

    def prepare_machines(self, config: LabConfig, run: Run) -> dict[str, str]:
        if os.environ.get("LAB_NODE_IMAGE"):
            run.note(f"node image from LAB_NODE_IMAGE: {os.environ['LAB_NODE_IMAGE']}")
            return {}
        with run.step("image: node (systemd, sshd, vagrant user)") as step:
            image = images.build_node_image(docker.from_env(), config.name,
                                            config.root / "provision" / "node", run, step)
        return {"LAB_NODE_IMAGE": image}

    def resume(self, config: LabConfig, kept: nodes.Cluster, run: Run, step) -> bool:
        # Stopped node containers keep their networks, ports and keys: one
        # `docker start` of all of them does what vagrant up does, in seconds.
        return resume.start_stopped(config, kept, run, step)

    def owned_ports(self, config: LabConfig) -> set[int]:
        """Host ports already held by this lab's own manager (a re-run is fine)."""
        name = f"{config.name}-{config.manager.name}"
        out = subprocess.run(["docker", "port", name], capture_output=True, text=True) \
            if host.docker_engine_running() else None
        ports = set()
        for line in (out.stdout.splitlines() if out and out.returncode == 0 else []):
            ports.add(int(line.rsplit(":", 1)[1]))
        return ports

    def console_hint(self, config: LabConfig, node: str) -> str:
        return f"see its console with: docker logs {config.name}-{node} (or {nodes.by_hand(config, node)})"

    def check_resources(self, config: LabConfig, starting: list[str]) -> None:
        # Containers share the host's memory instead of reserving it.
        return None

    def leftovers(self, config: LabConfig) -> list[str]:
        return [what for what, _ in leftover_objects(config)]

    def remove_leftovers(self, config: LabConfig, run: Run) -> list[str]:
        """Volumes and networks that `vagrant destroy` leaves."""
        removed = []
        for what, remove in leftover_objects(config):
            try:
                remove()
            except docker.errors.NotFound:
                continue
            removed.append(what)
            run.log(f"removed {what}")
        return removed


def leftover_objects(config: LabConfig) -> list[tuple[str, Callable[[], None]]]:
    """What `vagrant destroy` leaves of this lab (its nodes' Docker volumes, its
    network once no container uses it), each with the call that removes it."""
    if not host.docker_engine_running():
        return []
    client = docker.from_env()
    found = []
    for name in volume_names(config):
        try:
            volume = client.volumes.get(name)
        except docker.errors.NotFound:
            continue
        found.append((f"volume {name}", functools.partial(volume.remove, force=True)))
    for net in client.networks.list(names=[network_name(config)]):
        if not net.attrs.get("Containers"):
            found.append((f"network {net.name}", net.remove))
    return found


def volume_names(config: LabConfig) -> list[str]:
    return [f"{config.name}-{n.name}-docker" for n in config.nodes]


def network_name(config: LabConfig) -> str:
    return f"vagrant_network_{config.network}"


PROVIDER = DockerProvider()
