"""lab.yaml -> typed, validated values.

The file is read once, at the edge. Every error names the key, the bad value
and what is allowed, so a trainer can fix the file without reading code.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

PROVIDERS = ("auto", "virtualbox", "libvirt", "docker", "ssh")
ROLES = ("manager", "worker")
NODE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
LAB_NAME = re.compile(r"^[a-z][a-z0-9-]{0,20}$")
STACK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
# export_path reaches shells on the nodes, the Vagrantfile's `docker run -v`
# and the NFS exports file: plain path components only.
EXPORT_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
# Bind-mounting the shared directory over one of these would break the node,
# and exporting it over NFS would hand the system's files to the network.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
               "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/lib/docker")
# Ports a swarm node or the lab's manager already uses: the registry cannot take them.
RESERVED_PORTS = {
    80: "the manager publishes the web frontend on 80",
    8080: "the manager publishes the API on 8080",
    2377: "swarm's cluster management port (2377/tcp)",
    7946: "swarm's node gossip port (7946/tcp+udp)",
    4789: "swarm's overlay network traffic (4789/udp, VXLAN)",
}

TOP_KEYS = (
    "provider",
    "name",
    "network",
    "nodes",
    "registry_port",
    "export_path",
    "stack_name",
    "app_name",
    "host_ports",
)
NODE_KEYS = ("name", "role", "address", "memory", "cpus")
# provider: ssh (servers the lab does not create): how to reach each one. Its
# lab address stays `address`, the private network the swarm uses; memory and
# cpus are the server's own, so they may be left out.
SSH_NODE_KEYS = ("name", "role", "address", "host", "user")
SSH_NODE_OPTIONAL = ("port", "key", "agent", "memory", "cpus")
DEFAULT_SSH_PORT = 22
# Providers whose nodes lab.yaml must say how to reach: their keys, required and optional.
REACHED_NODE_KEYS = {"ssh": (SSH_NODE_KEYS, SSH_NODE_OPTIONAL)}
HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOST_PORT_KEYS = ("web", "api")
# Optional (lab files written before the live view have no such key).
OPTIONAL_HOST_PORT_KEYS = ("dashboard",)
DEFAULT_DASHBOARD_PORT = 8002


class ConfigError(ValueError):
    """lab.yaml is wrong; the message says where and what is allowed."""


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    address: str
    memory: int
    cpus: int
    # provider: ssh only: where the server answers SSH, as whom, with which
    # private key (None: the SSH agent).
    host: str | None = None
    port: int = DEFAULT_SSH_PORT
    user: str | None = None
    key: str | None = None

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True)
class HostPorts:
    web: int
    api: int
    dashboard: int = DEFAULT_DASHBOARD_PORT


@dataclass(frozen=True)
class LabConfig:
    path: Path
    provider: str
    name: str
    network: ipaddress.IPv4Network
    nodes: tuple[Node, ...]
    registry_port: int
    export_path: str
    stack_name: str
    app_name: str
    host_ports: HostPorts

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def manager(self) -> Node:
        return next(n for n in self.nodes if n.is_manager)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_manager)

    @property
    def registry(self) -> str:
        """The registry as every node names it: the manager's lab address."""
        return f"{self.manager.address}:{self.registry_port}"

    @property
    def gateway(self) -> str:
        return str(next(self.network.hosts()))

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.host_ports.web}/"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.host_ports.api}/"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.host_ports.dashboard}/"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(
            f"no node named {name!r}; lab.yaml has: {', '.join(n.name for n in self.nodes)}"
        )


def load(path: str | Path = "lab.yaml") -> LabConfig:
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (copy lab.yaml from the repository)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, path)


def parse(data: object, path: Path) -> LabConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {_show(data)}")
    _keys_exactly(data, TOP_KEYS, "")

    provider = _choice(data["provider"], "provider", PROVIDERS)
    name = _pattern(data["name"], "name", LAB_NAME, "lower-case letters, digits and '-', starting with a letter")
    network = _network(data["network"])
    nodes = _nodes(data["nodes"], network, reached=REACHED_NODE_KEYS.get(provider), root=path.parent)
    registry_port = _registry_port(data["registry_port"])
    export_path = _export_path(data["export_path"], "export_path")
    stack_name = _pattern(data["stack_name"], "stack_name", STACK_NAME, "lower-case letters, digits, '_' and '-'")
    app_name = _text(data["app_name"], "app_name", 40)
    host_ports = _host_ports(data["host_ports"])
    return LabConfig(
        path=path,
        provider=provider,
        name=name,
        network=network,
        nodes=nodes,
        registry_port=registry_port,
        export_path=export_path,
        stack_name=stack_name,
        app_name=app_name,
        host_ports=host_ports,
    )


def _show(value: object) -> str:
    return repr(value) if not isinstance(value, (dict, list)) else type(value).__name__


def _keys_exactly(mapping: dict, allowed, where: str, optional=()) -> None:
    """A typo is an error, not ignored; a missing key is named."""
    for key in mapping:
        if key not in allowed and key not in optional:
            raise ConfigError(f"{where}{key}: unknown key; allowed: {', '.join((*allowed, *optional))}")
    for key in allowed:
        if key not in mapping:
            raise ConfigError(f"{where}{key}: missing; allowed keys: {', '.join(allowed)}")


def _choice(value, key, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}: {_show(value)} is not allowed; use one of: {', '.join(allowed)}")
    return value


def _pattern(value, key, pattern, what) -> str:
    # fullmatch: with match, '$' also accepts a newline at the end.
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{key}: {_show(value)} is not allowed; use {what}")
    return value


def _text(value, key, limit) -> str:
    """One line of printable text: it becomes a line of the frontend's .env
    and the pages' titles (escaped there, so '&', '<' and quotes are fine)."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit \
            or not value.isprintable() or value != value.strip():
        raise ConfigError(f"{key}: {_show(value)} is not allowed; use a non-empty text of at most {limit} "
                          "printable characters on one line, without spaces at either end")
    return value


def _int(value, key, low, high) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}: {_show(value)} is not allowed; use a whole number from {low} to {high}")
    return value


def _port(value, key) -> int:
    return _int(value, key, 1, 65535)


def _abs_path(value, key) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") == "" or " " in value:
        raise ConfigError(f"{key}: {_show(value)} is not allowed; use an absolute path without spaces, such as /etc/db-data")
    return value.rstrip("/")


def _registry_port(value) -> int:
    port = _port(value, "registry_port")
    if port in RESERVED_PORTS:
        raise ConfigError(f"registry_port: {port} is not allowed: {RESERVED_PORTS[port]}; "
                          f"use another port from 1 to 65535 (not {', '.join(map(str, RESERVED_PORTS))}), "
                          "such as the tutorial's 4000")
    return port


def _export_path(value, key) -> str:
    allowed = ("use an absolute path made of letters, digits, '.', '_' and '-' between single '/', "
               "with no '.' or '..' component and no '/' at the end, such as /etc/db-data")
    if not isinstance(value, str) or not EXPORT_PATH.fullmatch(value) \
            or any(part in (".", "..") for part in value.split("/")):
        raise ConfigError(f"{key}: {_show(value)} is not allowed; {allowed}")
    if value in SYSTEM_DIRS or value.split("/")[1] in ("proc", "sys", "dev", "run"):
        raise ConfigError(f"{key}: {value!r} is not allowed: it is a system directory of the nodes; "
                          "use a directory of its own, such as /etc/db-data")
    return value


def _network(value) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise ConfigError(
            f"network: {_show(value)} is not allowed; use an IPv4 network in CIDR form such as 192.168.56.0/24"
        ) from None
    if not network.is_private or network.num_addresses < 8:
        raise ConfigError(
            f"network: {value} is not allowed; use a private IPv4 network of /29 or larger, such as 192.168.56.0/24"
        )
    return network


def _nodes(value, network, reached: tuple | None = None, root: Path = Path(".")) -> tuple[Node, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"nodes: {_show(value)} is not allowed; use a list of nodes with {', '.join(NODE_KEYS)}")
    nodes: list[Node] = []
    gateway = next(network.hosts())
    for i, item in enumerate(value):
        where = f"nodes[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: {_show(item)} is not allowed; use a mapping with {', '.join(NODE_KEYS)}")
        if reached:
            _keys_exactly(item, *reached[:1], f"{where}.", reached[1])
        else:
            for key in SSH_NODE_KEYS + SSH_NODE_OPTIONAL:
                if key in item and key not in NODE_KEYS:
                    raise ConfigError(f"{where}.{key}: only for provider: ssh (servers you already have); "
                                      f"allowed here: {', '.join(NODE_KEYS)}")
            _keys_exactly(item, NODE_KEYS, f"{where}.")
        name = _pattern(item["name"], f"{where}.name", NODE_NAME, "lower-case letters, digits and '-', starting with a letter")
        role = _choice(item["role"], f"{where}.role", ROLES)
        address = _address(item["address"], f"{where}.address", network, gateway)
        memory = _int(item.get("memory", 1536), f"{where}.memory", 256, 65536)
        cpus = _int(item.get("cpus", 1), f"{where}.cpus", 1, 64)
        reach = _ssh_settings(item, where, root) if reached else {}
        for other in nodes:
            if other.name == name:
                raise ConfigError(f"{where}.name: {name!r} is used twice; every node needs its own name")
            if other.address == address:
                raise ConfigError(f"{where}.address: {address} is already {other.name}'s; every node needs its own address")
        nodes.append(Node(name, role, address, memory, cpus, **reach))
    managers = [n.name for n in nodes if n.is_manager]
    if len(managers) != 1:
        raise ConfigError(
            f"nodes: {len(managers)} managers ({', '.join(managers) or 'none'}); the lab needs exactly one node with role: manager"
        )
    if len(nodes) < 2:
        raise ConfigError("nodes: no worker; the lab needs at least one node with role: worker")
    return tuple(nodes)


def _ssh_settings(item: dict, where: str, root: Path) -> dict:
    """host, port, user and a readable private key (or agent: true) of one server."""
    host = _pattern(item["host"], f"{where}.host", HOST_NAME, "a host name or IPv4 address, such as 203.0.113.10")
    user = _pattern(item["user"], f"{where}.user", USER_NAME, "a login name such as debian or ubuntu")
    port = _port(item.get("port", DEFAULT_SSH_PORT), f"{where}.port")
    if ("key" in item) == bool(item.get("agent")):
        raise ConfigError(f"{where}: give either key: <path of a private key> or agent: true (the SSH agent "
                          "holds the key), not both and not neither")
    if "agent" in item and item["agent"] is not True:
        raise ConfigError(f"{where}.agent: {_show(item['agent'])} is not allowed; use agent: true, or key: <path>")
    key = None
    if "key" in item:
        if not isinstance(item["key"], str) or not item["key"].strip():
            raise ConfigError(f"{where}.key: {_show(item['key'])} is not allowed; use the path of a private key file")
        path = Path(item["key"]).expanduser()
        path = path if path.is_absolute() else (root / path)
        try:
            head = path.read_text(errors="replace")[:200]
        except FileNotFoundError:
            raise ConfigError(f"{where}.key: {path}: no such file; use the path of the private key that logs "
                              f"in as {user}@{host}") from None
        except OSError as exc:
            raise ConfigError(f"{where}.key: {path} cannot be read ({exc.strerror}); let this user read it "
                              "(chmod 600, owned by you)") from None
        if "PRIVATE KEY" not in head:
            raise ConfigError(f"{where}.key: {path} is not a private key (no 'PRIVATE KEY' line); give the "
                              "private half of the key pair, not the .pub file")
        key = str(path)
    return {"host": host, "port": port, "user": user, "key": key}


def _address(value, key, network, gateway) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{key}: {_show(value)} is not allowed; use an IPv4 address in {network}") from None
    if address not in network:
        raise ConfigError(f"{key}: {address} is outside the network {network}; use an address in it")
    if address == network.network_address:
        raise ConfigError(f"{key}: {address} is the network's own address; use a host address in {network}")
    if address == network.broadcast_address:
        raise ConfigError(f"{key}: {address} is the broadcast address of {network}; use a host address")
    if address == gateway:
        raise ConfigError(f"{key}: {address} is the gateway (the host's end of {network}); use another host address")
    return str(address)


def _host_ports(value) -> HostPorts:
    if not isinstance(value, dict):
        raise ConfigError(f"host_ports: {_show(value)} is not allowed; use a mapping with {', '.join(HOST_PORT_KEYS)}")
    _keys_exactly(value, HOST_PORT_KEYS, "host_ports.", OPTIONAL_HOST_PORT_KEYS)
    web = _int(value["web"], "host_ports.web", 1024, 65535)
    api = _int(value["api"], "host_ports.api", 1024, 65535)
    if web == api:
        raise ConfigError(f"host_ports.api: {api} is also host_ports.web; use two different ports")
    dashboard = _int(value.get("dashboard", DEFAULT_DASHBOARD_PORT), "host_ports.dashboard", 1024, 65535)
    if dashboard in (web, api):
        raise ConfigError(f"host_ports.dashboard: {dashboard} is also host_ports.{'web' if dashboard == web else 'api'}; "
                          "use a port of its own")
    return HostPorts(web, api, dashboard)
