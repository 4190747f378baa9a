"""Proof that a bundle really takes the lab up offline (issue 14).

1. `invoke lab.up`, then `invoke lab.bundle` (this machine has network).
2. The lab is destroyed; a fresh clone of this checkout (no .venv, no .lab,
   no caches: a new laptop's copy of the lab) gets the bundle's .tar.
3. With every outside source cut, `./labctl up --bundle <tar>` then
   `invoke lab.check` run in the clone, and must pass:
   - no apt source but the bundle (labctl's own throwaway apt configuration;
     the host's /etc/apt is not touched), and a real `apt-get install
     --reinstall debootstrap` from it (LAB_BUNDLE_REINSTALL): this host has
     every package already, so that and apt's simulation of the whole install
     on a minimal Debian 12 are what prove the install path;
   - pip with --no-index (labctl), LAB_DEBIAN_MIRROR unset;
   - outbound traffic dropped and logged: from the host, for this test's own
     process tree only (a net_cls cgroup matched by iptables, since other
     work on this machine keeps its network), and from the lab's node
     containers (their addresses, on FORWARD), to anything but loopback and
     this machine's container networks. Rules sit in chains of this test's
     own, always removed; any packet they count fails the test.

Run it (about 20 minutes on the 2-core development machine):
    LAB_CONFIG=lab.scratch-x.yaml .venv/bin/python -m pytest -m offline tests/bundle
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab import config as cfg

pytestmark = [pytest.mark.slow, pytest.mark.offline]

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = Path(os.environ.get("LAB_CONFIG") or ROOT / "lab.yaml").resolve()
# The host's net_cls hierarchy is mounted read-only; a second mount of the
# same hierarchy (the test's own, removed afterwards) is writable.
NETCLS_MOUNT = Path("/run/lab-offline-netcls")
CGROUP = NETCLS_MOUNT / "lab-offline-test"
CLASSID = 0x00104C41  # any class id no one else uses
OUT_CHAIN, FWD_CHAIN, CHECK_CHAIN = "LABOFF-OUT", "LABOFF-FWD", "LABOFF-CHK"
LOG_PREFIX = "LABOFFLINE-DROP "


def run(argv, cwd=ROOT, env=None, timeout=3600, cgroup=False):
    started = time.monotonic()

    def enter():
        (CGROUP / "cgroup.procs").write_text(str(os.getpid()))

    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env=env or os.environ.copy(), preexec_fn=enter if cgroup else None)
    out.seconds = time.monotonic() - started
    return out


def must(result, what):
    assert result.returncode == 0, f"{what} exited {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    return result


def ipt(*args, check=True):
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=check)


def local_networks() -> list[str]:
    """Every container network of this host's engine: all on this machine."""
    ids = subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True, check=True).stdout.split()
    nets = set()
    for info in json.loads(subprocess.run(["docker", "network", "inspect", *ids], capture_output=True,
                                          text=True, check=True).stdout):
        for c in (info.get("IPAM") or {}).get("Config") or []:
            if c.get("Subnet") and ipaddress.ip_network(c["Subnet"]).version == 4:
                nets.add(c["Subnet"])
    return sorted(nets)


class Watch(threading.Thread):
    """Adds each node container of the lab to the FORWARD check as soon as it
    exists (the nodes are created during the run)."""

    def __init__(self, lab_name: str):
        super().__init__(daemon=True)
        self.lab_name, self.seen, self.stop = lab_name, set(), threading.Event()

    def poll(self):
        out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=lab={self.lab_name}"],
                             capture_output=True, text=True).stdout.split()
        for cid in out:
            info = subprocess.run(["docker", "inspect", "--format",
                                   "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cid],
                                  capture_output=True, text=True).stdout.split()
            for ip in info:
                if ip and ip not in self.seen:
                    ipt("-I", FWD_CHAIN, "1", "-s", f"{ip}/32", "-j", CHECK_CHAIN)
                    self.seen.add(ip)

    def run(self):
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(0.3)


def counted() -> dict[str, int]:
    """Packets the drop rules counted, per chain."""
    found = {}
    for chain in (OUT_CHAIN, CHECK_CHAIN):
        for line in ipt("-L", chain, "-n", "-v", "-x").stdout.splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[2] == "DROP":
                found[chain] = found.get(chain, 0) + int(parts[0])
    return found


def dropped_log() -> str:
    out = subprocess.run(["dmesg"], capture_output=True, text=True)
    return "\n".join(line for line in out.stdout.splitlines() if LOG_PREFIX in line)[-4000:]


@contextmanager
def offline(lab_network: str, lab_name: str):
    """Outbound traffic of this test's process tree and of the lab's nodes is
    logged and dropped, except loopback and this machine's own networks."""
    allowed = ["127.0.0.0/8", lab_network] + [n for n in local_networks() if n != lab_network]
    NETCLS_MOUNT.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "cgroup", "-o", "net_cls,net_prio", "lab-offline", str(NETCLS_MOUNT)], check=True)
    watch = Watch(lab_name)
    try:
        CGROUP.mkdir(exist_ok=True)
        (CGROUP / "net_cls.classid").write_text(str(CLASSID))
        for chain in (OUT_CHAIN, FWD_CHAIN, CHECK_CHAIN):
            ipt("-N", chain)
        for chain in (OUT_CHAIN, CHECK_CHAIN):
            ipt("-A", chain, "-o", "lo", "-j", "RETURN")
            for net in allowed:
                ipt("-A", chain, "-d", net, "-j", "RETURN")
            ipt("-A", chain, "-m", "limit", "--limit", "20/second", "-j", "LOG", "--log-prefix", LOG_PREFIX)
            ipt("-A", chain, "-j", "DROP")
        ipt("-A", FWD_CHAIN, "-s", lab_network, "-j", CHECK_CHAIN)
        ipt("-I", "OUTPUT", "1", "-m", "cgroup", "--cgroup", hex(CLASSID), "-j", OUT_CHAIN)
        ipt("-I", "FORWARD", "1", "-j", FWD_CHAIN)
        watch.start()
        yield watch
    finally:
        watch.stop.set()
        if watch.is_alive():
            watch.join(5)
        ipt("-D", "OUTPUT", "-m", "cgroup", "--cgroup", hex(CLASSID), "-j", OUT_CHAIN, check=False)
        ipt("-D", "FORWARD", "-j", FWD_CHAIN, check=False)
        for chain in (FWD_CHAIN, OUT_CHAIN, CHECK_CHAIN):
            ipt("-F", chain, check=False)
        for chain in (FWD_CHAIN, OUT_CHAIN, CHECK_CHAIN):
            ipt("-X", chain, check=False)
        for _ in range(50):  # the cgroup goes once its last process has ended
            try:
                CGROUP.rmdir()
                break
            except OSError:
                time.sleep(0.2)
        subprocess.run(["umount", str(NETCLS_MOUNT)], check=False)
        NETCLS_MOUNT.rmdir()


def resolver() -> str:
    """The host's DNS server: where a probe packet may go if a rule failed."""
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        if line.startswith("nameserver") and ":" not in line.split()[1]:
            return line.split()[1]
    pytest.skip("no IPv4 resolver in /etc/resolv.conf to probe the rules with")


# A DROP on OUTPUT makes sendto fail with EPERM: that is the rule working.
PROBE = ("import socket,sys\ntry: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'', (sys.argv[1], 53))\n"
         "except PermissionError: pass")


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LAB_DEBIAN_MIRROR", "VIRTUAL_ENV", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    return dict(env, **extra)


@pytest.mark.skipif(os.geteuid() != 0, reason="iptables, cgroups and apt need root")
def test_the_bundle_takes_a_fresh_clone_to_a_green_lab_check_with_no_outside_traffic(tmp_path):
    config = cfg.load(CONFIG_PATH)
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, check=True).stdout
    assert not status.strip(), f"commit first: the clone gets the committed lab only\n{status}"
    env = clean_env(LAB_CONFIG=str(CONFIG_PATH))
    timings = {}

    # 1. The trainer's side, with network.
    timings["lab.up (online)"] = must(run([sys.executable, "-m", "invoke", "lab.up"], env=env), "lab.up").seconds
    out_dir = tmp_path / "lab-bundle"
    made = must(run([sys.executable, "-m", "invoke", "lab.bundle", "--out", str(out_dir)], env=env), "lab.bundle")
    timings["lab.bundle"] = made.seconds
    tar = out_dir.with_name("lab-bundle.tar")
    assert tar.is_file() and (out_dir / "manifest.json").is_file()
    again = must(run([sys.executable, "-m", "invoke", "lab.bundle", "--out", str(out_dir)], env=env), "lab.bundle again")
    assert "nothing changed: the bundle was reused as it was" in again.stdout, again.stdout
    manifest = json.loads((out_dir / "manifest.json").read_text())
    commit = manifest["commit"]
    assert commit == subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()

    # 2. A new laptop's copy of the lab; the trainer's lab goes.
    must(run([sys.executable, "-m", "invoke", "lab.destroy"], env=env), "lab.destroy")
    clone = tmp_path / "laptop" / "lab"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
    laptop_config = clone / CONFIG_PATH.name
    shutil.copy(CONFIG_PATH, laptop_config)
    env = clean_env(LAB_CONFIG=str(laptop_config), LAB_BUNDLE_REINSTALL="debootstrap")
    try:
        # 3. Offline.
        with offline(str(config.network), config.name) as watch:
            # The rules are live: a probe from this test's cgroup is counted.
            must(run([sys.executable, "-c", PROBE, resolver()], cgroup=True), "probe")
            assert counted().get(OUT_CHAIN, 0) >= 1, "the host-side rule did not count the probe"
            ipt("-Z", OUT_CHAIN)
            up = run([str(clone / "labctl"), "up", "--bundle", str(tar)], cwd=clone, env=env, cgroup=True)
            timings["labctl up --bundle"] = up.seconds
            if up.returncode != 0:
                pytest.fail(f"./labctl up --bundle exited {up.returncode}; dropped: {counted()}\n{dropped_log()}\n"
                            f"{up.stdout[-6000:]}\n{up.stderr[-3000:]}")
            check = run([str(clone / ".venv" / "bin" / "invoke"), "lab.check"], cwd=clone, env=env, cgroup=True)
            timings["lab.check"] = check.seconds
            nodes_seen = len(watch.seen)
            drops = counted()
            # ... and so is one from a node (the manager).
            subprocess.run(["docker", "exec", f"{config.name}-{config.manager.name}", "python3", "-c", PROBE,
                            resolver()], check=True)
            probed = counted().get(CHECK_CHAIN, 0) - drops.get(CHECK_CHAIN, 0)
        print(json.dumps(timings, indent=1))
        steps = clone / ".lab" / "runs" / f"latest-{config.name}" / "steps.jsonl"
        for line in steps.read_text().splitlines() if steps.exists() else []:
            step = json.loads(line)
            print(f"  {step.get('seconds', 0):6.1f}s  {step.get('name')}")
        must(check, "lab.check (offline)")
        assert nodes_seen >= len(config.nodes), f"the node containers were not all watched: {watch.seen}"
        assert not any(drops.values()), (f"outward traffic was attempted and dropped: {drops}\n{dropped_log()}")
        assert probed >= 1, "the node-side rule did not count the probe from the manager"
        text = up.stdout + up.stderr
        assert f"offline: bundle {manifest['date']}, {commit[:12]}" in text, text[-3000:]
        assert "host packages: the bundle holds all" in text and "Reinstalling debootstrap from the bundle only" in text
        assert "Preparing the Python environment" in text
        assert "offline: the nodes' apt reads the bundle only" in text
        assert "offline: registry:2 and the app's images from the bundle" in text
        assert (clone / ".venv" / "bin" / "python").exists()
    finally:
        run([str(clone / ".venv" / "bin" / "invoke"), "lab.destroy"], cwd=clone, env=env) \
            if (clone / ".venv" / "bin" / "invoke").exists() else None
