"""Real VMs with vagrant-libvirt, from a Debian 12 box built here; with KVM
where it really runs guests, else emulated (QEMU TCG, slow but real)."""
from __future__ import annotations

import shutil

from .. import box, host, libvirt, nodes
from ..config import LabConfig
from ..runlog import Run
from .vagrant import VagrantProvider

# Pulling the five images into emulated workers alone takes several minutes.
# Emulated VMs pull, start and move tasks many times slower than containers:
# every wait of the lab is this many times longer there.
EMULATED_PATIENCE = 5


def acceleration(config: LabConfig) -> libvirt.Acceleration:
    """KVM or emulation for this lab's VMs: the lab's one KVM answer, found
    once and kept in .lab/kvm (auto's choice and the VMs' driver alike)."""
    state = nodes.state_dir(config)
    return libvirt.acceleration(box.paths(state, config.name).boot, state / "kvm")


def installed() -> bool:
    return shutil.which("virsh") is not None and host.plugin_installed("vagrant-libvirt")


class LibvirtProvider(VagrantProvider):
    name = "libvirt"
    chosen_because = "KVM runs guests and vagrant-libvirt is installed"

    def available(self, config: LabConfig) -> str | None:
        if not installed():
            return "no libvirt with vagrant-libvirt"
        accel = acceleration(config)
        return None if not accel.emulated else f"no KVM that runs guests ({accel.why})"

    def prepare_machines(self, config: LabConfig, run: Run) -> dict[str, str]:
        return prepare_host(config, run)

    def node_env(self, config: LabConfig) -> dict[str, str]:
        return acceleration(config).env()

    def remove_leftovers(self, config: LabConfig, run: Run) -> list[str]:
        return libvirt.remove_networks(config.name, run)

    def leftovers(self, config: LabConfig) -> list[str]:
        if not shutil.which("virsh") or not libvirt.libvirt_answers():
            return []
        return [f"network {n}" for n in libvirt.networks(config.name)]

    def console_hint(self, config: LabConfig, node: str) -> str:
        log = nodes.console_log(config, node)
        return f"read its console log: {log} (or {nodes.by_hand(config, node)})"

    def check_resources(self, config: LabConfig, starting: list[str]) -> None:
        host.check_vm_memory(config, starting, emulated=acceleration(config).emulated)

    def patience(self, config: LabConfig) -> float:
        return float(EMULATED_PATIENCE) if acceleration(config).emulated else 1.0


def prepare_host(config: LabConfig, run: Run) -> dict[str, str]:
    """Packages, daemons, storage pool and box for the libvirt lane; the
    environment the Vagrantfile needs (KVM or emulation)."""
    with run.step("host: libvirt (packages, libvirtd, storage pool)") as step:
        installed_ = libvirt.ensure_packages(run)
        started = libvirt.ensure_daemons(run)
        pool = libvirt.ensure_pool(run)
        done = ([f"installed {', '.join(installed_)}"] if installed_ else []) + \
               (["started libvirtd"] if started else []) + (["storage pool defined"] if pool else [])
        if done:
            step.changed("; ".join(done))
    with run.step(f"box: {box.box_name(config.name)} (Debian 12, built here)") as step:
        box.build(nodes.state_dir(config), config.name, host.debian_mirror(), host.vagrant_env(), run, step)
    accel = acceleration(config)
    run.note(f"libvirt driver: {accel.driver} ({accel.why})")
    if accel.emulated:
        run.note("the VMs run emulated, without KVM: expect every step to be many times slower than on a workstation")
    return accel.env()


PROVIDER = LibvirtProvider()
