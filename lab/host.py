"""The workstation side: tools the lab needs, the Docker engine, the Debian
mirror, and the 127.0.0.1 ports. Which provider runs is lab/providers/."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .config import LabConfig
from .runlog import LabError

APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


# Where Vagrant records its plugins: the user's (VAGRANT_HOME) and the
# system's (Debian's packaged plugins; HashiCorp's installer), each a
# plugins.json plus the plugins.d/*.json beside it.
SYSTEM_PLUGIN_DIRS = (Path("/usr/share/vagrant-plugins"), Path("/opt/vagrant/embedded"))


def plugin_installed(name: str) -> bool:
    """Whether Vagrant has the plugin, from its own plugin records (instant),
    else from `vagrant plugin list` (a second or two of Ruby)."""
    if not shutil.which("vagrant"):
        return False
    user = Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")
    if any(name in recorded_plugins(d) for d in (user, *SYSTEM_PLUGIN_DIRS)):
        return True
    out = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True,
                         env=vagrant_env()).stdout
    return name in out


def recorded_plugins(folder: Path) -> set[str]:
    """The plugins a Vagrant plugin state folder records as installed."""
    found: set[str] = set()
    for f in [folder / "plugins.json", *sorted((folder / "plugins.d").glob("*.json"))]:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found |= set(data.get("installed", data) if f.name == "plugins.json" else data)
    return found


def vagrant_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VAGRANT_CHECKPOINT_DISABLE", "1")
    env.setdefault("VAGRANT_NO_COLOR", "1")
    return env


def require_tools(*tools: str) -> None:
    for tool in tools:
        if not shutil.which(tool):
            package = {"vagrant": "vagrant", "docker": "docker.io", "debootstrap": "debootstrap"}.get(tool, tool)
            raise LabError(
                f"{tool} is not installed",
                hint=f"run ./lab-up (installs what is missing), or as root: apt-get install -y {package}",
            )


def docker_engine_running() -> bool:
    try:
        return subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_docker_engine(wait: float = 30.0) -> None:
    """Start dockerd when it is not running and we may (root, no systemd)."""
    require_tools("docker")
    if docker_engine_running():
        return
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        raise LabError(
            "the Docker engine is not running",
            hint="start it (systemctl start docker, or as root: dockerd >/var/log/dockerd.log 2>&1 &)",
        )
    log = Path("/var/log/dockerd.log").open("a")
    subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if docker_engine_running():
            return
        time.sleep(0.5)
    raise LabError(
        f"the Docker engine did not start within {wait:.0f}s",
        command="dockerd", output=_tail(Path("/var/log/dockerd.log")),
        hint="read /var/log/dockerd.log; fix the engine, then run the command again",
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def debian_mirror() -> str:
    """The Debian mirror this host already uses (the lab reaches no other)."""
    from . import offline
    if offline.mirror():  # lab.up from a bundle: the mirror its base image was made from
        return offline.mirror()
    if os.environ.get("LAB_DEBIAN_MIRROR"):
        return os.environ["LAB_DEBIAN_MIRROR"]
    for path in APT_SOURCES:
        if path.exists():
            mirror = parse_mirror(path.read_text())
            if mirror:
                return mirror
    raise LabError(
        "no Debian mirror found in this host's apt sources",
        hint="set LAB_DEBIAN_MIRROR to the address of a Debian bookworm mirror",
    )


def parse_mirror(text: str) -> str | None:
    """First URI serving bookworm main, from deb822 or one-line apt sources."""
    for block in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", block, re.M))
        if "bookworm" in fields.get("Suites", "").split() and "security" not in fields.get("URIs", ""):
            return fields["URIs"].split()[0].rstrip("/")
    for line in text.splitlines():
        m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", line)
        if m:
            return m.group(1).rstrip("/")
    return None


def host_resolver() -> str:
    """The host's own resolver, handed to the engines inside node containers
    so that their containers never fall back to a public resolver."""
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and not parts[1].startswith("127."):
            return parts[1]
    raise LabError(
        "the host has no non-loopback nameserver in /etc/resolv.conf",
        hint="node engines need a resolver they can reach; add one to /etc/resolv.conf",
    )


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_host_ports(config: LabConfig, owned: set[int]) -> None:
    """Refuse ports that something other than this lab holds, before anything starts."""
    for key, port in (("web", config.host_ports.web), ("api", config.host_ports.api)):
        if port in owned:
            continue
        if not port_free(port):
            raise LabError(
                f"host_ports.{key}: 127.0.0.1:{port} is already in use by another program",
                hint=f"free the port (ss -ltnp 'sport = :{port}' shows who holds it) or choose another in lab.yaml",
            )


# What a VM costs the host beyond its guest memory. Under KVM or VirtualBox
# none is counted: the hypervisor's own few dozen MiB are more than made up by
# guest pages never touched, so 4 x 1536 MiB still starts on an 8 GB laptop.
# Under emulation TCG's translation cache is real (measured here: 2.5-2.7 GiB
# of host RSS per 1.5 GiB guest).
VM_OVERHEAD_MIB = 0
EMULATED_VM_OVERHEAD_MIB = 1024


def meminfo_mib(meminfo: Path = Path("/proc/meminfo")) -> dict[str, float]:
    """/proc/meminfo's kB lines, in MiB, by name (MemTotal, MemAvailable, ...)."""
    found = {}
    for line in meminfo.read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            found[key] = int(value.split()[0]) / 1024
    return found


def mem_available_mib(meminfo: Path = Path("/proc/meminfo")) -> int:
    available = meminfo_mib(meminfo).get("MemAvailable")
    if available is None:
        raise LabError(f"no MemAvailable line in {meminfo}")
    return int(available)


def check_vm_memory(config: LabConfig, starting: list[str], emulated: bool, available: int | None = None) -> None:
    """VMs take their memory from the host: refuse, before any starts, a
    lab.yaml that asks for more than the host has available."""
    overhead = EMULATED_VM_OVERHEAD_MIB if emulated else VM_OVERHEAD_MIB
    nodes = [n for n in config.nodes if n.name in starting]
    need = sum(n.memory + overhead for n in nodes)
    have = mem_available_mib() if available is None else available
    if need > have:
        asked = " + ".join(f"{n.name} {n.memory}" for n in nodes)
        extra = f", and {overhead} MiB each for the emulator's translation cache" if overhead else ""
        raise LabError(
            f"the VMs to start need {need} MiB ({asked} MiB in {config.path.name}{extra}), "
            f"but this host has {have} MiB available",
            hint=f"lower nodes[].memory in {config.path.name} (the lab runs in 4 x 1536 MiB) "
                 "or stop other VMs, then run the command again")
