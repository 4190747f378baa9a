"""A Debian 12 box for vagrant-libvirt, built here from Debian packages only.

No box can be downloaded, so the lab makes its own: debootstrap into the ext4
partition of a raw disk, extlinux as the boot loader, then a qcow2 image with
Vagrant's metadata, added as `<lab name>/debian12`.

The build happens in a scratch directory under .lab/box/ and the box is added
only at the very end, so an interrupted build never leaves a half box
registered; the next build first removes whatever an interrupted one left
(mounts, loop devices, files). A hash of the inputs is kept beside the box: a
build whose inputs did not change says "cached".
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from .images import digest, vagrant_public_key
from .runlog import LabError, Run, Step

SUITE = "bookworm"
DISK_GB = 16
# Partition 1 starts at 1 MiB: losetup -o reaches it without partition device
# nodes, which do not appear on every host.
PART_OFFSET = 1 << 20
PACKAGES = (
    "linux-image-cloud-amd64", "systemd", "systemd-sysv", "dbus", "udev", "openssh-server", "sudo",
    # Vagrant's Debian guest support writes the static lab address for ifupdown.
    "ifupdown", "isc-dhcp-client", "netbase", "iproute2", "iputils-ping",
    "python3", "procps", "ca-certificates", "curl", "less", "kmod", "e2fsprogs",
    # Debian's kernel turns AppArmor on: without the parser, dockerd cannot load
    # its docker-default profile and no container starts. A standard Debian
    # install has it too.
    "apparmor",
)
# Fetched into the box's apt cache, not installed: the lab's own steps install
# them (tutorial steps 1 and 6) without downloading them four times.
PREFETCH = ("docker.io", "nfs-kernel-server", "nfs-common")
MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
SSH_HOST_KEYS_UNIT = Path(__file__).resolve().parent.parent / "provision" / "node" / "ssh-host-keys.service"

INTERFACES = """\
# The management interface (vagrant-libvirt's network, DHCP). Vagrant adds the
# lab's static address for eth1 below, between its VAGRANT markers.
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp

source /etc/network/interfaces.d/*
"""

EXTLINUX = """\
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
  LINUX /boot/{kernel}
  INITRD /boot/{initrd}
  APPEND root=UUID={uuid} ro net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200
"""

# Vagrant sets the hostname before it writes eth1's address, and on systemd
# Debian its hostname change restarts ifup@<iface>.service for every interface,
# eth1 included. The stock unit then fails (`ifquery --state eth1`: eth1 is not
# configured yet) and the VM boots "degraded" although eth1 gets its address a
# moment later. An interface that /etc/network/interfaces does not configure has
# nothing to bring up: for it the unit succeeds. A configured one that fails to
# come up still fails the unit.
IFUP_DROPIN = """\
[Service]
ExecStart=
ExecStart=/bin/sh -ec 'ifup --allow=hotplug %I; ifquery --state %I || ! ifquery %I >/dev/null 2>&1'
"""

BOX_VAGRANTFILE = """\
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
"""


@dataclass(frozen=True)
class BoxPaths:
    root: Path

    @property
    def stamp(self) -> Path:
        return self.root / "inputs"

    @property
    def boot(self) -> Path:
        """The box's kernel and initrd, kept for the KVM test boot."""
        return self.root / "boot"

    def scratch(self) -> Path:
        return self.root / f"build-{os.getpid()}"


def box_name(lab_name: str) -> str:
    return f"{lab_name}/debian12"


def paths(state_dir: Path, lab_name: str) -> BoxPaths:
    return BoxPaths(state_dir / "box" / lab_name)


def inputs(mirror: str) -> str:
    # This module is the recipe: any change to it makes a new box.
    return digest(Path(__file__).read_bytes(), mirror, vagrant_public_key().read_bytes(),
                  SSH_HOST_KEYS_UNIT.read_bytes())


def registered(name: str, env: dict) -> bool:
    """Whether Vagrant lists the box for the libvirt provider."""
    out = subprocess.run(["vagrant", "box", "list", "--machine-readable"], capture_output=True,
                         text=True, env=env)
    lines = out.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.endswith(f",box-name,{name}"):
            return any(l.endswith(",box-provider,libvirt") for l in lines[i + 1:i + 3])
    return False


def build(state_dir: Path, lab_name: str, mirror: str, env: dict, run: Run, step: Step) -> str:
    """The box `<lab name>/debian12`, built and added unless it is current."""
    name = box_name(lab_name)
    where = paths(state_dir, lab_name)
    wanted = inputs(mirror)
    if where.stamp.exists() and where.stamp.read_text().strip() == wanted and registered(name, env):
        step.detail = f"cached ({name})"
        return name
    machines = domains(lab_name)
    if machines and registered(name, env):
        # Their disks are thin copies of the pooled box image: replacing it
        # under running VMs would pull their root file system away.
        run.note(f"box: {name} is out of date, but {', '.join(machines)} run on it; "
                 "it is rebuilt once they are destroyed (invoke lab.destroy)")
        step.detail = "out of date, kept while the VMs exist"
        return name
    where.root.mkdir(parents=True, exist_ok=True)
    cleanup_leftovers(where.root, run)
    scratch = where.scratch()
    scratch.mkdir()
    where.stamp.unlink(missing_ok=True)
    try:
        box_file = make_box(scratch, mirror, run, where)
        add_box(name, box_file, env, run)
        where.stamp.write_text(wanted + "\n")
    finally:
        remove_scratch(scratch, run)
    step.changed(f"built and added {name}")
    return name


def make_box(scratch: Path, mirror: str, run: Run, where: BoxPaths) -> Path:
    raw = scratch / "disk.raw"
    mnt = scratch / "mnt"
    mnt.mkdir()
    fs_uuid = str(uuid.uuid4())
    host(run, ["truncate", "-s", f"{DISK_GB}G", str(raw)], "creating the raw disk")
    host(run, ["sfdisk", "--quiet", str(raw)], "partitioning the raw disk",
         stdin_text=f"start={PART_OFFSET // 512}, type=83, bootable\n")
    loop = host(run, ["losetup", "--find", "--show", "-o", str(PART_OFFSET), str(raw)],
                "attaching the partition to a loop device").strip()
    # extlinux reads ext4 without 64bit block numbers and without the orphan file.
    host(run, ["mkfs.ext4", "-q", "-F", "-U", fs_uuid, "-L", "root", "-O", "^64bit,^orphan_file",
               "-E", "lazy_itable_init=0", loop], "making the ext4 file system")
    host(run, ["mount", loop, str(mnt)], "mounting the new file system")
    host(run, ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(mnt), mirror],
         "debootstrap of the box", timeout=1800)
    configure_tree(mnt, fs_uuid, run)
    prefetch(mnt, run)
    # debootstrap copied this host's resolver; dhclient writes the management
    # network's own at boot.
    (mnt / "etc" / "resolv.conf").write_text("")
    keep_boot_files(mnt, where.boot)
    host(run, ["extlinux", "--install", str(mnt / "boot" / "extlinux")], "installing extlinux")
    host(run, ["umount", str(mnt)], "unmounting the file system")
    host(run, ["losetup", "-d", loop], "detaching the loop device")
    host(run, ["dd", f"if={MBR}", f"of={raw}", "bs=440", "count=1", "conv=notrunc", "status=none"],
         "writing the boot record")
    image = scratch / "box.img"
    host(run, ["qemu-img", "convert", "-O", "qcow2", str(raw), str(image)], "converting to qcow2")
    raw.unlink()
    (scratch / "metadata.json").write_text(json.dumps(
        {"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GB}) + "\n")
    (scratch / "Vagrantfile").write_text(BOX_VAGRANTFILE)
    box_file = scratch / "debian12.box"
    run.show_command("host", f"tar -cf {box_file.name} metadata.json Vagrantfile box.img")
    with tarfile.open(box_file, "w") as tar:
        for member in ("metadata.json", "Vagrantfile", "box.img"):
            tar.add(scratch / member, arcname=member)
    image.unlink()
    return box_file


def configure_tree(root: Path, fs_uuid: str, run: Run) -> None:
    """What makes the tree a Vagrant box: boot, network, the vagrant user."""
    kernel = sorted(p.name for p in (root / "boot").glob("vmlinuz-*"))[-1]
    initrd = sorted(p.name for p in (root / "boot").glob("initrd.img-*"))[-1]
    (root / "boot" / "extlinux").mkdir(exist_ok=True)
    (root / "boot" / "extlinux" / "extlinux.conf").write_text(
        EXTLINUX.format(kernel=kernel, initrd=initrd, uuid=fs_uuid))
    (root / "etc" / "fstab").write_text(f"UUID={fs_uuid} / ext4 errors=remount-ro 0 1\n")
    (root / "etc" / "network" / "interfaces").write_text(INTERFACES)
    (root / "etc" / "hostname").write_text("debian12\n")
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 debian12\n"
                                        "::1 localhost ip6-localhost ip6-loopback\n")
    shutil.copy(SSH_HOST_KEYS_UNIT, root / "etc" / "systemd" / "system" / SSH_HOST_KEYS_UNIT.name)
    dropin = root / "etc" / "systemd" / "system" / "ifup@.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "unconfigured-is-done.conf").write_text(IFUP_DROPIN)
    key = vagrant_public_key().read_text()
    chroot(run, root, f"""
set -e
useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
printf '%s\\n' '{key.strip()}' > /home/vagrant/.ssh/authorized_keys
chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys
chmod 0600 /home/vagrant/.ssh/authorized_keys
rm -f /etc/ssh/ssh_host_*
systemctl enable ssh-host-keys.service ssh.service
systemctl mask apt-daily.timer apt-daily-upgrade.timer
rm -f /var/lib/dbus/machine-id
: > /etc/machine-id
""", "configuring the box (vagrant user, SSH, machine-id)")


def prefetch(root: Path, run: Run) -> None:
    chroot(run, root, f"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --download-only --no-install-recommends {' '.join(PREFETCH)}
""", "fetching docker.io and the NFS packages into the box's apt cache", timeout=1200)


def keep_boot_files(root: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for pattern in ("vmlinuz-*", "initrd.img-*"):
        src = sorted((root / "boot").glob(pattern))[-1]
        shutil.copy(src, target / pattern.split("-")[0])


def chroot(run: Run, root: Path, script: str, what: str, timeout: int = 600) -> str:
    mounts = [("proc", root / "proc", ["-t", "proc", "proc"]), ("sys", root / "sys", ["-t", "sysfs", "sysfs"]),
              ("dev", root / "dev", ["--bind", "/dev"])]
    done = []
    try:
        for _, target, args in mounts:
            host(run, ["mount", *args, str(target)], f"mounting {target.name} for the chroot")
            done.append(target)
        return host(run, ["chroot", str(root), "/bin/sh", "-c", script], what, timeout=timeout)
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def add_box(name: str, box_file: Path, env: dict, run: Run) -> None:
    """Replace the box, and the copy vagrant-libvirt keeps in its storage pool
    (it would otherwise start new machines from the old image)."""
    forget_pool_copy(name, run)
    host(run, ["vagrant", "box", "add", "--force", "--name", name, str(box_file)], f"vagrant box add {name}",
         env=env, timeout=900)


def domains(lab_name: str) -> list[str]:
    """libvirt machines of this lab (named <lab name>-<node>)."""
    if not shutil.which("virsh"):
        return []
    out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True)
    return [d for d in out.stdout.split() if d.startswith(f"{lab_name}-")]


def forget_pool_copy(name: str, run: Run) -> None:
    if not shutil.which("virsh"):
        return
    prefix = name.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"
    out = subprocess.run(["virsh", "-c", "qemu:///system", "vol-list", "default"], capture_output=True, text=True)
    names = [line.split()[0] for line in out.stdout.splitlines()[2:] if line.strip()]
    for volume in (v for v in names if v.startswith(prefix)):
        host(run, ["virsh", "-c", "qemu:///system", "vol-delete", "--pool", "default", volume],
             "removing the old box image from libvirt's pool")


def cleanup_leftovers(root: Path, run: Run) -> None:
    """Whatever an interrupted build left: its mounts, loop devices and files."""
    for scratch in sorted(root.glob("build-*")):
        run.note(f"box: removing what an interrupted build left in {scratch}")
        remove_scratch(scratch, run)


def remove_scratch(scratch: Path, run: Run) -> None:
    release(scratch, run)
    left = mounts_under(scratch)
    if left:
        # Deleting the files under a mount (the chroot's /dev is the host's) would
        # reach the host itself: stop and say what to unmount.
        raise LabError(f"box: {', '.join(left)} still mounted; the scratch directory was kept",
                       command=f"umount -l {left[0]}", node="host",
                       hint=f"unmount it, then remove {scratch} and build again")
    shutil.rmtree(scratch, ignore_errors=True)


def mounts_under(scratch: Path) -> list[str]:
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
    return sorted((m for m in out if m == str(scratch) or m.startswith(f"{scratch}/")), key=len, reverse=True)


def release(scratch: Path, run: Run) -> None:
    for target in mounts_under(scratch):
        run.log(f"umount {target}")
        subprocess.run(["umount", "-l", target], capture_output=True)
    raw = scratch / "disk.raw"
    if raw.exists():
        out = subprocess.run(["losetup", "-j", str(raw), "-O", "NAME", "-n"], capture_output=True, text=True)
        for loop in out.stdout.split():
            run.log(f"losetup -d {loop}")
            subprocess.run(["losetup", "-d", loop], capture_output=True)


def host(run: Run, argv: list[str], what: str, *, stdin_text: str | None = None, env: dict | None = None,
         timeout: int = 600) -> str:
    shown = " ".join(argv) if argv[0] != "chroot" else f"chroot {argv[1]} ... ({what})"
    run.show_command("host", shown)
    try:
        proc = subprocess.run(argv, input=stdin_text, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"box: {what} took longer than {timeout}s", command=shown, node="host",
                       output=(exc.output or b"").decode(errors="replace") if isinstance(exc.output, bytes)
                       else exc.output or "") from None
    run.log(proc.stdout)
    if proc.returncode != 0:
        raise LabError(f"box: {what} failed (exit {proc.returncode})", command=shown, node="host",
                       output=proc.stdout, hint="fix the cause; the next build starts clean")
    return proc.stdout
