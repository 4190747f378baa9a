"""compose/docker-compose.yaml -> the stack file the lab deploys.

Tutorial step 7 replaces <ip-manager> with the manager's address. The lab does
the same in a rendered copy, and where the node kernels cannot do what the
file asks (no IPVS, no NFS), adapts that copy in the smallest honest way and
lists every adaptation, so the output and the run record can name them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from .config import LabConfig
from .probe import Capabilities

PLACEHOLDER = "<ip-manager>"
TUTORIAL_REGISTRY_PORT = 4000
TUTORIAL_EXPORT = "/etc/db-data"
MESH = "mesh"
MESH_NETWORK = "web-network"
# The routing-mesh stand-in answers where the tutorial's ports are published.
MESH_PORTS = (80, 8080)
APP_IMAGES = ("database", "backend", "frontend", "nginx-frontend", "nginx-backend")


@dataclass
class Rendered:
    text: str
    data: dict
    adaptations: list[str] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return list(self.data["services"])

    def images(self) -> list[str]:
        """Image names (without registry) the stack runs."""
        return [svc["image"].rsplit("/", 1)[1].split(":")[0] for svc in self.data["services"].values()]


def substitute(text: str, config: LabConfig) -> str:
    text = text.replace(f"{PLACEHOLDER}:{TUTORIAL_REGISTRY_PORT}", config.registry)
    text = text.replace(PLACEHOLDER, config.manager.address)
    return text.replace(TUTORIAL_EXPORT, config.export_path)


def render(source: str, config: LabConfig, caps: Capabilities) -> Rendered:
    data = yaml.safe_load(substitute(source, config))
    adaptations: list[str] = []
    for secret in (data.get("secrets") or {}).values():
        if secret.get("external") and "name" in secret:
            secret["name"] = f"{config.stack_name}_{secret['name'].split('_', 1)[1]}"
    if not caps.ipvs:
        use_dnsrr(data)
        add_mesh(data, config)
        adaptations.append("services use endpoint_mode dnsrr and host-mode ports (kernel has no IPVS)")
        adaptations.append("stand-in: routing mesh — nginx service 'mesh' on the manager publishes "
                           f"{' and '.join(map(str, MESH_PORTS))} (kernel has no IPVS)")
    if not caps.nfs:
        bind_shared_dir(data, config)
        adaptations.append(f"stand-in: db volume binds the shared directory {config.export_path} "
                           "instead of mounting NFS (kernel has no NFS)")
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    header = "# Rendered by the lab from compose/docker-compose.yaml.\n"
    header += "".join(f"# adaptation: {a}\n" for a in adaptations)
    return Rendered(header + text, data, adaptations)


def use_dnsrr(data: dict) -> None:
    """No IPVS: no virtual IPs and no ingress. Names resolve to task addresses,
    and published ports bind on the node that runs the task."""
    for service in data["services"].values():
        service.setdefault("deploy", {})["endpoint_mode"] = "dnsrr"
        if "ports" in service:
            service["ports"] = [host_mode(p) for p in service["ports"]]


def host_mode(port) -> dict:
    if isinstance(port, dict):
        return dict(port, mode="host")
    published, target = str(port).split(":")[-2:]
    return {"target": int(target), "published": int(published), "protocol": "tcp", "mode": "host"}


def add_mesh(data: dict, config: LabConfig) -> None:
    data["services"][MESH] = {
        "image": f"{config.registry}/{MESH}",
        "ports": [{"target": p, "published": p, "protocol": "tcp", "mode": "host"} for p in MESH_PORTS],
        "networks": [MESH_NETWORK],
        "deploy": {
            "mode": "global",
            "endpoint_mode": "dnsrr",
            "placement": {"constraints": ["node.role == manager"]},
            # The stand-in is the lab's, not the tutorial's: when the manager's
            # Docker restarts, nginx exits 0 and swarm would leave it Complete
            # (on-failure), the app unreachable until lab.up.
            "restart_policy": {"condition": "any"},
        },
    }


def bind_shared_dir(data: dict, config: LabConfig) -> None:
    """No NFS: the export path is one host directory shared by every node, so a
    local bind of it follows the database from worker to worker."""
    for volume in (data.get("volumes") or {}).values():
        opts = (volume or {}).get("driver_opts") or {}
        if opts.get("type") == "nfs":
            volume["driver_opts"] = {"type": "none", "o": "bind", "device": config.export_path}


def expected_replicas(rendered: Rendered, workers: int, managers: int = 1) -> dict[str, int]:
    """Service name (without stack prefix) -> replicas a converged stack runs."""
    result = {}
    for name, service in rendered.data["services"].items():
        deploy = service.get("deploy") or {}
        if deploy.get("mode") == "global":
            constraints = " ".join((deploy.get("placement") or {}).get("constraints") or [])
            result[name] = managers if "manager" in constraints else workers
        else:
            result[name] = int(deploy.get("replicas", 1))
    return result

