"""The ssh lane: servers you already have, stood in for by four containers of
the lab's node image started with plain `docker run` (no Vagrant) on a
network of their own, sshd with a key this test makes. lab.ssh.yaml names
them; lab.up, lab.check and lab.destroy run on them as on real servers.

Marked slow and ssh; run it alone with:
    .venv/bin/python -m pytest -m ssh tests/ssh
The containers, their volumes and network are removed at the end, always."""
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest

from lab import config as cfg
from lab import host, images, nodes
from tests.nodeshell import invoke_task

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "lab.ssh.yaml"
KEY = ROOT / ".lab" / "sshlab" / "id_ed25519"
NETWORK = "sshlab-net"
PREFIX = "sshlab-srv"
SUBNET = "192.168.61.0/24"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.ssh)


def invoke(*args, check=True, timeout=1800):
    return invoke_task(ROOT, *args, config=CONFIG, check=check, timeout=timeout)


def sh(*argv, check=True, **kw):
    out = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if check:
        assert out.returncode == 0, f"{' '.join(argv)} exited {out.returncode}: {out.stdout}{out.stderr}"
    return out


def node_image() -> str:
    """The lab's node image (lab/images.py), built or found cached."""
    quiet = SimpleNamespace(show_command=lambda *a: None, log=lambda *a: None, note=lambda *a: None)
    step = SimpleNamespace(detail="", changed=lambda *a: None)
    client = docker.from_env()
    images.build_base(client, host.debian_mirror(), quiet, step)
    return images.build_node_image(client, "sshlab", ROOT / "provision" / "node", quiet, step)


def create_args(name: str, shared: Path, apt_cache: Path) -> list[str]:
    """The Vagrantfile's docker_create_args: what a node container needs to
    run systemd and a Docker engine of its own (see SANDBOX.md)."""
    return ["--hostname", name,
            "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "-v", f"{PREFIX}-{name}-docker:/var/lib/docker",
            # This kernel has no NFS: one host directory stands in for the export, as on the docker provider.
            "-v", f"{shared}:/etc/db-data",
            # The lab's apt cache: each .deb is downloaded once for all labs of this machine.
            "-v", f"{apt_cache}:/var/cache/lab-apt",
            "--label", "lab=sshlab-servers"]


def remove_servers(names: list[str]) -> None:
    subprocess.run(["docker", "rm", "-f", *[f"{PREFIX}-{n}" for n in names]], capture_output=True)
    subprocess.run(["docker", "volume", "rm", *[f"{PREFIX}-{n}-docker" for n in names]], capture_output=True)
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)


@pytest.fixture(scope="session")
def servers(request):
    """Four running servers with sshd and the test's key; removed at the end."""
    KEY.parent.mkdir(parents=True, exist_ok=True)
    if not KEY.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshlab-test", "-f", str(KEY))
    config = cfg.load(CONFIG)
    names = [n.name for n in config.nodes]
    assert len(names) == 4
    image = node_image()
    request.addfinalizer(lambda: remove_servers(names))
    remove_servers(names)
    # New servers have new host keys: the lab's record of the last ones goes,
    # as a trainer who reinstalled the class's servers would remove it.
    nodes.known_hosts(config).unlink(missing_ok=True)
    shared = ROOT / ".lab" / "sshlab" / "shared"
    apt_cache = ROOT / ".lab" / "cache" / "apt"
    shared.mkdir(parents=True, exist_ok=True)
    apt_cache.mkdir(parents=True, exist_ok=True)
    sh("docker", "network", "create", "--subnet", SUBNET, NETWORK)
    for n in config.nodes:
        sh("docker", "run", "-d", "--name", f"{PREFIX}-{n.name}", "--network", NETWORK, "--ip", n.address,
           *create_args(n.name, shared, apt_cache), image)
    pub = KEY.with_suffix(".pub").read_text()
    deadline = time.monotonic() + 120
    for n in config.nodes:
        c = f"{PREFIX}-{n.name}"
        while sh("docker", "exec", c, "systemctl", "is-active", "ssh", check=False).stdout.strip() != "active":
            assert time.monotonic() < deadline, f"sshd did not start in {c}"
            time.sleep(1)
        sh("docker", "exec", "-i", c, "sh", "-c", "cat > /home/vagrant/.ssh/authorized_keys", input=pub)
    return config


def on_server(name: str, command: str) -> subprocess.CompletedProcess:
    """A command in a server container, through docker (not the lab's own SSH)."""
    return subprocess.run(["docker", "exec", f"{PREFIX}-{name}", "sh", "-c", command],
                          capture_output=True, text=True, timeout=120)
