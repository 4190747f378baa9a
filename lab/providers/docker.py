"""Nodes as containers (Vagrant's docker provider): systemd, sshd and a Docker
engine of their own in each; works wherever a Docker engine does."""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import docker

from .. import host, images, nodes, resume, statefiles
from ..config import LabConfig
from ..runlog import LabError, Run
from .vagrant import VagrantProvider


# How long lab.down gives a node container to shut down (systemd stops its
# Docker engine, which stops the app's containers) before it is killed.
# `vagrant halt` gives 1 s (Vagrant's default, kept for stop_node: the
# node-loss drill wants a node that fails, whose tasks swarm must move): a
# lab.down that way killed the backend's gunicorn while it was stopping,
# and its tasks came back failed (exit 255), restarted on swarm's schedule.
STOP_SECONDS = 30


class DockerProvider(VagrantProvider):
    name = "docker"
    chosen_because = "nodes are containers (Vagrant's docker provider)"

    def available(self, config: LabConfig) -> str | None:
        if not shutil.which("docker"):
            return "no Docker client (apt-get install docker.io)"
        return None

    def prepare(self, config: LabConfig, run: Run) -> None:
        # Before Vagrant meets a container name it did not create.
        claim_node_names(config, run)
        super().prepare(config, run)

    def prepare_machines(self, config: LabConfig, run: Run) -> dict[str, str]:
        if os.environ.get("LAB_NODE_IMAGE"):
            run.note(f"node image from LAB_NODE_IMAGE: {os.environ['LAB_NODE_IMAGE']}")
            return {}
        with run.step("image: node (systemd, sshd, vagrant user)") as step:
            image = images.build_node_image(docker.from_env(), config.name,
                                            config.root / "provision" / "node", run, step)
        ensure_node_key(config)
        return {"LAB_NODE_IMAGE": image}

    # `vagrant status` and `vagrant ssh-config` each start Ruby and Vagrant
    # (3.5-4 s here, twice in every lab.up that starts nodes); the containers
    # and Vagrant's machine folders hold the same answers. Anything unusual
    # (a machine folder without its key, a container without its SSH port)
    # is left to Vagrant.
    def machine_states(self, config: LabConfig, vg: nodes.Vagrant) -> list[nodes.MachineState]:
        found = inspect_machines(config)
        return [nodes.MachineState(n.name, found[n.name][0] if n.name in found else "not_created", self.name)
                for n in config.nodes]

    def ssh_config(self, config: LabConfig, vg: nodes.Vagrant) -> str:
        found = inspect_machines(config)
        dotfile = nodes.vagrant_dotfile(config)
        blocks = []
        for n in config.nodes:
            key = login_key(config, dotfile, n.name)
            state, port = found.get(n.name, ("not_created", None))
            if state != "running" or port is None or key is None:
                return vg.ssh_config()
            blocks.append(ssh_config_block(n.name, port, key))
        return "".join(blocks)

    def resume(self, config: LabConfig, kept: nodes.Cluster, run: Run, step) -> bool:
        # Stopped node containers keep their networks, ports and keys: one
        # `docker start` of all of them does what vagrant up does, in seconds.
        found = inspect_machines(config)
        return resume.start_stopped(config, kept, run, step,
                                    {name: state == "running" for name, (state, _) in found.items()})

    def halt(self, config: LabConfig, run: Run) -> list[str]:
        """`vagrant halt` of every running node, at once instead of one after
        another, with time to shut down cleanly (STOP_SECONDS), and without
        starting Vagrant to ask which are running."""
        found = inspect_machines(config)
        running = [n.name for n in config.nodes if found.get(n.name, ("",))[0] == "running"]
        if not running:
            return []
        run.show_command("host", "vagrant halt")
        argv = ["docker", "stop", "--time", str(STOP_SECONDS), *[f"{config.name}-{n}" for n in running]]
        stopped = subprocess.run(argv, capture_output=True, text=True)
        run.log(f"{' '.join(argv)}\n{stopped.stdout}{stopped.stderr}")
        if stopped.returncode != 0:
            raise LabError("stopping the node containers failed", command=" ".join(argv), node="host",
                           output=stopped.stdout + stopped.stderr,
                           hint="run lab.down again; `docker ps` shows which still run")
        return running

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

    def destroy(self, config: LabConfig, run: Run, everything: bool) -> list[str]:
        # Another folder's nodes stay (named in the output); nodes that no
        # folder knows any more go with this lab's.
        return claim_node_names(config, run, refuse=False) + super().destroy(config, run, everything)

    def leftovers(self, config: LabConfig) -> list[str]:
        strays = [f"container {c.name} ({whose(owner)})" for c, owner in stray_nodes(config)]
        return strays + [what for what, _ in leftover_objects(config)]

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
        if client.containers.list(all=True, filters={"volume": name}):
            continue  # still a node's: another folder's lab (stray_nodes names it)
        found.append((f"volume {name}", functools.partial(volume.remove, force=True)))
    for net in client.networks.list(names=[network_name(config)]):
        # Stopped containers count (a lab that is down): the network's own
        # Containers lists running ones only, and only when inspected.
        if not client.containers.list(all=True, filters={"network": net.name}):
            found.append((f"network {net.name}", net.remove))
    return found


def stray_nodes(config: LabConfig) -> list[tuple[object, Path | None]]:
    """Containers that carry this lab's name but that this folder's Vagrant did
    not create, each with the lab folder that holds it (its Vagrant still knows
    the container), or None when no lab folder knows it."""
    if not host.docker_engine_running():
        return []
    strays = []
    for container in docker.from_env().containers.list(all=True, filters={"label": f"lab={config.name}"}):
        node = container.labels.get("lab.node", "")
        if machine_id(nodes.vagrant_dotfile(config), node) == container.id:
            continue
        home = container_home(container)
        held = home and home != config.root and container.id in (
            machine_id(home / dotfile, node) for dotfile in (".vagrant", f".vagrant-{config.name}"))
        strays.append((container, home if held else None))
    return strays


def whose(owner: Path | None) -> str:
    return f"the lab in {owner}" if owner else "no lab folder knows it"


def claim_node_names(config: LabConfig, run: Run, refuse: bool = True) -> list[str]:
    """Make this lab's node names free for Vagrant: remove the nodes no folder
    knows any more (their folder is gone or forgot them) with their engine
    volumes, and say so. Nodes another folder's lab holds (running or
    resumable there) are never touched: with `refuse` that is an error naming
    the folder, else a note. Returns what was removed."""
    strays = stray_nodes(config)
    owners = sorted({owner for _, owner in strays if owner})
    if owners and not refuse:
        run.note(f"left alone: nodes named {config.name}-* that belong to {', '.join(map(whose, owners))}")
        return []
    if owners:
        names = ", ".join(sorted(c.name for c, _ in strays))
        raise LabError(
            f"the node names of lab '{config.name}' are taken by {', '.join(map(whose, owners))} ({names})",
            hint=f"destroy that lab first (cd {owners[0]} && .venv/bin/invoke lab.destroy), "
                 f"or give this one another `name:` (and network and host ports) in {config.path.name}")
    removed = []
    client = docker.from_env()
    for container, owner in strays:
        run.show_command("host", f"docker rm -f {container.name}")
        container.remove(force=True)
        removed.append(f"container {container.name} ({whose(owner)})")
        # Its engine's volume only: this lab's own nodes keep theirs.
        name = volume_name(config, container.labels.get("lab.node", ""))
        try:
            client.volumes.get(name).remove(force=True)
            removed.append(f"volume {name}")
        except docker.errors.NotFound:
            pass
    if removed:
        run.note("removed node containers no lab folder knows any more: " + ", ".join(removed))
    return removed


def node_key_path(config: LabConfig) -> Path:
    return nodes.own_dir(config) / "node_key"


def ensure_node_key(config: LabConfig) -> Path:
    """The lab's own login key for its node containers, made once (ECDSA,
    PEM: both Vagrant's Ruby SSH and paramiko read it without extra gems).

    Why: with Vagrant's default, a new machine is first reached with
    Vagrant's well-known insecure key, which Vagrant then swaps for a new
    one (a few commands and a reconnect per node: about 4 s of the nodes
    step). The Vagrantfile gives Vagrant this key instead and passes its
    public half to the container, which authorizes it when it boots
    (provision/node/lab-authorized-key); the node image holds no insecure key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = node_key_path(config)
    public = path.with_name(path.name + ".pub")
    if path.is_file() and public.is_file():
        return path
    statefiles.private_dir(path.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    statefiles.write_atomic(path, key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                                    serialization.NoEncryption()))
    # The public half last: the Vagrantfile takes the key once this exists.
    openssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    statefiles.write_atomic(public, openssh + f" lab {config.name}\n".encode(), mode=0o644)
    return path


def login_key(config: LabConfig, dotfile: Path, node: str) -> Path | None:
    """The key that opens `node`, as the Vagrantfile tells Vagrant: the key
    Vagrant inserted itself (nodes made before the lab had its own key),
    else the lab's key; None when neither is there."""
    inserted = dotfile / "machines" / node / "docker" / "private_key"
    if inserted.is_file():
        return inserted
    own = node_key_path(config)
    return own if own.is_file() else None


def machine_id(dotfile: Path, node: str) -> str | None:
    """The container id a Vagrant machine folder keeps for `node`. Another
    folder's lab may have used lab.yaml (.vagrant) or another lab file
    (.vagrant-<name>): see nodes.vagrant_dotfile."""
    path = dotfile / "machines" / node / "docker" / "id"
    return path.read_text().strip() if path.is_file() else None


def inspect_machines(config: LabConfig) -> dict[str, tuple[str, int | None]]:
    """node -> (Vagrant's state name, host port of its SSH) for every node whose
    machine folder names a container that exists; one `docker inspect`."""
    dotfile = nodes.vagrant_dotfile(config)
    ids = {n.name: machine_id(dotfile, n.name) for n in config.nodes}
    known = [i for i in ids.values() if i]
    if not known:
        return {}
    # Missing containers are left out of the output (and make the exit code 1).
    out = subprocess.run(["docker", "inspect", "--format",
                          "{{.Id}} {{.State.Running}} {{json .NetworkSettings.Ports}}", *known],
                         capture_output=True, text=True)
    by_id = {}
    for line in out.stdout.splitlines():
        cid, running, ports = line.split(" ", 2)
        by_id[cid] = ("running" if running == "true" else "stopped", ssh_port(json.loads(ports) or {}))
    return {name: by_id[cid] for name, cid in ids.items() if cid in by_id}


def ssh_port(ports: dict) -> int | None:
    """The 127.0.0.1 port Docker publishes the node's sshd on."""
    for binding in ports.get("22/tcp") or []:
        if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def ssh_config_block(node: str, port: int, key: Path) -> str:
    """One Host block, as `vagrant ssh-config` writes it for a docker machine."""
    return (f"Host {node}\n  HostName 127.0.0.1\n  User vagrant\n  Port {port}\n"
            "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n"
            f"  IdentityFile {key}\n  IdentitiesOnly yes\n  LogLevel FATAL\n\n")


def container_home(container) -> Path | None:
    """The lab folder a node container was made from: its lab.home label, or
    (nodes made before the label) the host side of its apt cache mount."""
    if container.labels.get("lab.home"):
        return Path(container.labels["lab.home"])
    for mount in container.attrs.get("Mounts", []):
        if mount.get("Destination") == "/var/cache/lab-apt" and mount.get("Source", "").endswith("/.lab/cache/apt"):
            return Path(mount["Source"]).parents[2]
    return None


def volume_name(config: LabConfig, node: str) -> str:
    """A node's engine volume (the Vagrantfile names it so)."""
    return f"{config.name}-{node}-docker"


def volume_names(config: LabConfig) -> list[str]:
    return [volume_name(config, n.name) for n in config.nodes]


def network_name(config: LabConfig) -> str:
    return f"vagrant_network_{config.network}"


PROVIDER = DockerProvider()
