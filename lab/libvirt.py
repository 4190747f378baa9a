"""The host side of the libvirt lane: packages, daemons, storage pool, and
whether the VMs run with KVM or emulated (QEMU's TCG).

KVM is used only where it really runs a guest: on some hosts /dev/kvm opens
but every guest dies with "KVM internal error ... emulation failure". The lab
boots the box's own kernel once under KVM to tell, and keeps the answer.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .host import plugin_installed
from .runlog import LabError, Run

URI = "qemu:///system"
POOL = "default"
POOL_PATH = "/var/lib/libvirt/images"
# Package -> a file it installs, to see whether it is there.
PACKAGES = {
    "libvirt-daemon-system": "/usr/sbin/libvirtd",
    "libvirt-daemon-driver-qemu": "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "qemu-utils": "/usr/bin/qemu-img",
    "dnsmasq-base": "/usr/sbin/dnsmasq",
    "extlinux": "/usr/bin/extlinux",
    "syslinux-common": "/usr/lib/syslinux/mbr/mbr.bin",
    "debootstrap": "/usr/sbin/debootstrap",
    "vagrant": "/usr/bin/vagrant",
}
KVM_PROBE_SECONDS = 60


@dataclass(frozen=True)
class Acceleration:
    driver: str  # "kvm" or "qemu"
    why: str

    @property
    def emulated(self) -> bool:
        return self.driver == "qemu"

    def env(self) -> dict[str, str]:
        """What the Vagrantfile reads to pick the domain type and CPU model."""
        return {"LAB_LIBVIRT_DRIVER": self.driver}


def missing_packages() -> list[str]:
    missing = [p for p, f in PACKAGES.items() if not os.path.exists(f)]
    if "vagrant" not in missing and not plugin_installed("vagrant-libvirt"):
        missing.append("vagrant-libvirt")
    return missing


def install_commands(packages: list[str]) -> list[str]:
    return ["sudo apt-get update", f"sudo apt-get install -y {' '.join(packages)}"]


def start_commands() -> list[str]:
    if systemd_runs():
        return ["sudo systemctl start virtlogd libvirtd"]
    return ["sudo virtlogd -d", "sudo libvirtd -d"]


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


def libvirt_answers() -> bool:
    try:
        return subprocess.run(["virsh", "-c", URI, "version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_packages(run: Run) -> list[str]:
    """Install what libvirt needs (root), or say exactly what to run (not root)."""
    missing = missing_packages()
    if not missing:
        return []
    if os.geteuid() != 0:
        raise LabError(f"the libvirt lane needs packages that are missing: {', '.join(missing)}",
                       command="\n".join(install_commands(missing) + start_commands()),
                       hint="run the commands above as root (they install and start libvirt), then this again")
    run.show_command("host", f"apt-get install -y {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        run.log(proc.stdout)
        if proc.returncode != 0:
            raise LabError(f"installing {', '.join(missing)} failed", command=" ".join(argv), node="host",
                           output=proc.stdout)
    return missing


def ensure_daemons(run: Run, wait: float = 30.0) -> bool:
    """libvirtd answering on qemu:///system; True when the lab started it."""
    if libvirt_answers():
        return False
    if os.geteuid() != 0:
        raise LabError("libvirtd is not running", command="\n".join(start_commands()),
                       hint="start it as root with the commands above, then run this again")
    for command in start_commands():
        run.show_command("host", command.removeprefix("sudo "))
        subprocess.run(command.removeprefix("sudo ").split(), capture_output=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if libvirt_answers():
            return True
        time.sleep(0.5)
    raise LabError(f"libvirtd did not answer within {wait:.0f}s", command=f"virsh -c {URI} version",
                   hint="start libvirtd by hand (libvirtd -d) and read its messages")


def ensure_pool(run: Run) -> bool:
    """vagrant-libvirt keeps box images and disks in the `default` pool."""
    info = subprocess.run(["virsh", "-c", URI, "pool-info", POOL], capture_output=True, text=True)
    if info.returncode == 0 and "running" in info.stdout:
        return False
    steps = [] if info.returncode == 0 else [
        ["pool-define-as", POOL, "dir", "--target", POOL_PATH], ["pool-build", POOL], ["pool-autostart", POOL]]
    for args in steps + [["pool-start", POOL]]:
        run.show_command("host", f"virsh {' '.join(args)}")
        proc = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LabError(f"libvirt storage pool {POOL}: virsh {args[0]} failed", command=f"virsh {' '.join(args)}",
                           node="host", output=proc.stdout + proc.stderr)
    return True


def acceleration(boot_dir: Path, cache: Path) -> Acceleration:
    """KVM when it really runs the box's kernel, else emulation (TCG)."""
    forced = os.environ.get("LAB_KVM")
    if forced == "yes":
        return Acceleration("kvm", "LAB_KVM=yes")
    if forced == "no":
        return Acceleration("qemu", "LAB_KVM=no: emulated (QEMU TCG), slow")
    if not os.path.exists("/dev/kvm"):
        return Acceleration("qemu", "no /dev/kvm: emulated (QEMU TCG), slow")
    if cache.exists():
        driver, _, why = cache.read_text().strip().partition(" ")
        return Acceleration(driver, why)
    ok, why = kvm_boots(boot_dir)
    result = Acceleration("kvm", why) if ok else Acceleration("qemu", f"{why}: emulated (QEMU TCG), slow")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(f"{result.driver} {result.why}\n")
    return result


def kvm_boots(boot_dir: Path) -> tuple[bool, str]:
    """Boot the box's kernel under KVM (see kvm_boot_test); before the box is
    built (`provider: auto` asks first), this host's own newest kernel."""
    kernel, initrd = boot_dir / "vmlinuz", boot_dir / "initrd.img"
    if not kernel.exists():
        own = sorted(Path("/boot").glob("vmlinuz-*"))
        if not own or not shutil.which("qemu-system-x86_64"):
            return False, "KVM not tried (no kernel to boot yet, or no qemu-system-x86_64)"
        kernel, initrd = own[-1], None
    return kvm_boot_test(kernel, initrd)


def kvm_boot_test(kernel: Path, initrd: Path | None = None) -> tuple[bool, str]:
    """Boot a Linux kernel under KVM until it looks for its root file system.

    A kernel that gets that far has run real guest code (the emulation failures
    seen on some hosts come much earlier); one that cannot mount a root then
    panics, and -no-reboot ends QEMU."""
    argv = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults",
            "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", str(kernel)]
    if initrd and initrd.exists():
        argv += ["-initrd", str(initrd)]
    argv += ["-append", "console=ttyS0 panic=-1 root=/dev/lab-none rootdelay=1"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=KVM_PROBE_SECONDS, errors="replace")
        out, timed_out = proc.stdout + proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        timed_out = True
    except OSError as exc:
        return False, f"KVM not tried ({exc})"
    if "KVM internal error" not in out and ("Kernel panic" in out or "Run /init" in out or "VFS:" in out):
        return True, "KVM runs guests"
    errors = [l.strip() for l in out.splitlines() if "error" in l.lower() or "failure" in l.lower()]
    if errors:
        return False, f"KVM cannot run guests here ({errors[0]})"
    if timed_out:
        return False, f"KVM cannot run guests here (a test kernel printed nothing in {KVM_PROBE_SECONDS}s)"
    return False, f"KVM cannot run guests here (QEMU exited {proc.returncode})"


def networks(lab_name: str) -> list[str]:
    """libvirt networks this lab's Vagrantfile creates (management and lab)."""
    out = subprocess.run(["virsh", "-c", URI, "net-list", "--all", "--name"], capture_output=True, text=True)
    return [n for n in out.stdout.split() if n in (f"{lab_name}-mgmt", f"{lab_name}-lab")]


def remove_networks(lab_name: str, run: Run) -> list[str]:
    """`vagrant destroy` leaves the networks it made; remove this lab's."""
    if not shutil.which("virsh") or not libvirt_answers():
        return []
    removed = []
    for net in networks(lab_name):
        for args in (["net-destroy", net], ["net-undefine", net]):
            run.show_command("host", f"virsh {' '.join(args)}")
            subprocess.run(["virsh", "-c", URI, *args], capture_output=True)
        removed.append(f"network {net}")
    return removed
