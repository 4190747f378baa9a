"""What the three Vagrant providers share: the Vagrantfile brings the nodes
up, `vagrant ssh-config` names how to reach them, `vagrant destroy` removes them."""
from __future__ import annotations

import docker

from .. import host, images, nodes
from ..config import LabConfig
from ..runlog import Run


def base_image(run: Run) -> None:
    """Node images (docker provider) and the app's images (every provider,
    copied into the manager's engine by lab.build) start from this base."""
    host.require_tools("docker", "debootstrap")
    host.ensure_docker_engine()
    with run.step("image: Debian base (debootstrap)") as step:
        images.build_base(docker.from_env(), host.debian_mirror(), run, step)


class VagrantProvider:
    name = ""
    chosen_because = ""

    def available(self, config: LabConfig) -> str | None:
        raise NotImplementedError

    # -- before the nodes ------------------------------------------------------
    def prepare(self, config: LabConfig, run: Run) -> None:
        host.require_tools("vagrant")
        # Before anything is built or started: a port taken by another program.
        host.check_host_ports(config, self.owned_ports(config))
        base_image(run)
        self.env = self.prepare_machines(config, run)

    def prepare_machines(self, config: LabConfig, run: Run) -> dict[str, str]:
        """What this provider builds before `vagrant up`; the Vagrantfile's environment."""
        return {}

    def up(self, config: LabConfig, run: Run) -> nodes.Cluster:
        with run.step(f"nodes: vagrant up ({len(config.nodes)} nodes)") as step:
            return nodes.up(config, self, run, step, getattr(self, "env", {}))

    def machine_states(self, config: LabConfig, vg: nodes.Vagrant) -> list[nodes.MachineState]:
        """Each machine's state for lab.up (Vagrant's own answer: `vagrant status`)."""
        return vg.status()

    def ssh_config(self, config: LabConfig, vg: nodes.Vagrant) -> str:
        """How to reach every node, as `vagrant ssh-config` prints it."""
        return vg.ssh_config()

    def resume(self, config: LabConfig, kept: nodes.Cluster, run: Run, step) -> bool:
        """Bring stopped nodes back faster than `vagrant up` would; False leaves it to vagrant up."""
        return False

    def start_node(self, config: LabConfig, run: Run, node: str) -> nodes.Cluster:
        vg = nodes.Vagrant(config, run, getattr(self, "env", None) or self.node_env(config))
        run.show_command("host", f"vagrant up {node}")
        vg.up(self.name, node)
        return nodes.fresh_cluster(config, vg, self)

    def node_env(self, config: LabConfig) -> dict[str, str]:
        """The Vagrantfile's environment for a node started outside lab.up."""
        return {}

    def stop_node(self, config: LabConfig, run: Run, node: str) -> None:
        run.show_command("host", f"vagrant halt {node}")
        nodes.Vagrant(config, run).v.halt(vm_name=node)

    def halt(self, config: LabConfig, run: Run) -> list[str]:
        vg = nodes.Vagrant(config, run)
        running = [m.name for m in vg.status() if m.state == "running"]
        if running:
            run.show_command("host", "vagrant halt")
            vg.v.halt()
        return running

    def destroy(self, config: LabConfig, run: Run, everything: bool) -> list[str]:
        had = nodes.destroy(config, run)
        removed = self.remove_leftovers(config, run)
        return (["machines destroyed"] if had else []) + removed

    def remove_leftovers(self, config: LabConfig, run: Run) -> list[str]:
        return []

    def leftovers(self, config: LabConfig) -> list[str]:
        return []

    def owned_ports(self, config: LabConfig) -> set[int]:
        """Vagrant forwards the host ports itself: when every node of this lab
        already answers, the ports it holds are its own (a re-run is fine)."""
        kept = nodes.kept_cluster(config)
        if kept is None:
            return set()
        try:
            return set() if nodes.unreachable(kept, config.nodes) else {config.host_ports.web, config.host_ports.api}
        finally:
            kept.close()

    def console_hint(self, config: LabConfig, node: str) -> str:
        return f"log in with: {nodes.by_hand(config, node)}"

    def check_resources(self, config: LabConfig, starting: list[str]) -> None:
        # Only the VMs about to start take memory from the host now.
        host.check_vm_memory(config, starting, emulated=False)

    def patience(self, config: LabConfig) -> float:
        return 1.0

    def status(self, config: LabConfig) -> list[nodes.MachineState]:
        return nodes.Vagrant(config).status()
