"""What the node kernels can do, asked once per run.

Steps consult these answers instead of asking which provider the lab runs on:
a node container here shares a kernel without IPVS or NFS, a VM has both.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .remote import sh
from .runlog import Run

# One script, one SSH round trip. modprobe may fail (no modules in a container);
# what counts is whether the kernel then offers the feature.
PROBE_SCRIPT = r"""
modprobe ip_vs >/dev/null 2>&1; modprobe nfs >/dev/null 2>&1; modprobe nfsd >/dev/null 2>&1
if [ -e /proc/net/ip_vs ]; then echo ipvs=yes; else echo ipvs=no; fi
if grep -qw nfs /proc/filesystems; then echo nfs_client=yes; else echo nfs_client=no; fi
if grep -qw nfsd /proc/filesystems; then echo nfs_server=yes; else echo nfs_server=no; fi
echo memory_mb=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
echo cpus=$(nproc)
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo cgroup=2; else echo cgroup=1; fi
if grep -E '^nameserver' /etc/resolv.conf | grep -qvE 'nameserver\s+(127\.|::1)'; then
  echo own_resolver=yes; else echo own_resolver=no; fi
""".strip()


@dataclass(frozen=True)
class Capabilities:
    ipvs: bool
    nfs_client: bool
    nfs_server: bool
    memory_mb: int
    cgroup: int
    own_resolver: bool
    # CPUs the manager has (a node container sees the host's; a VM its own).
    cpus: int = 0

    @property
    def nfs(self) -> bool:
        return self.nfs_client and self.nfs_server

    def stand_ins(self) -> list[str]:
        """Every adaptation these capabilities force, in words for the output."""
        found = []
        if not self.nfs:
            found.append("shared directory instead of NFS (kernel has no NFS)")
        if not self.ipvs:
            found.append("routing mesh: nginx on the manager with host-mode ports, "
                         "services in dnsrr mode (kernel has no IPVS)")
        return found

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def parse(text: str) -> Capabilities:
    values = dict(line.split("=", 1) for line in text.split() if "=" in line)
    return Capabilities(
        ipvs=values.get("ipvs") == "yes",
        nfs_client=values.get("nfs_client") == "yes",
        nfs_server=values.get("nfs_server") == "yes",
        memory_mb=int(values.get("memory_mb", "0") or 0),
        cgroup=int(values.get("cgroup", "1")),
        own_resolver=values.get("own_resolver") == "yes",
        cpus=int(values.get("cpus", "0") or 0),
    )


def probe(run: Run, conn, node: str) -> Capabilities:
    result = sh(run, conn, node, PROBE_SCRIPT, teach=False)
    caps = parse(result.stdout)
    (run.dir / "capabilities.json").write_text(caps.to_json() + "\n")
    return caps
