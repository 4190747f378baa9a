"""The machines: vagrant up / status / destroy, and SSH to each of them.

`vagrant ssh-config` is asked once for all nodes and kept in .lab/labs/<name>/ssh_config;
every later step reaches the nodes through the Fabric connections made from it.
A later run first tries the kept settings: when every node answers, Vagrant
(several seconds per call) is not asked again.
"""
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import paramiko
import vagrant
from fabric import Config, Connection

from .config import LabConfig, Node
from .host import vagrant_env
from . import hostkeys, statefiles
from .runlog import LabError, Run

SSH_TIMEOUT = 10


@dataclass(frozen=True)
class SSHSettings:
    host: str
    hostname: str
    port: int
    user: str
    identity: str


@dataclass(frozen=True)
class MachineState:
    name: str
    state: str
    provider: str | None


def state_dir(config: LabConfig) -> Path:
    return config.root / ".lab"


def own_dir(config: LabConfig) -> Path:
    """What belongs to one lab only (its provider, its ssh-config): a second
    lab file (lab.libvirt.yaml beside lab.yaml) keeps its own."""
    return state_dir(config) / "labs" / config.name


def ssh_config_path(config: LabConfig) -> Path:
    return own_dir(config) / "ssh_config"


def default_lab(config: LabConfig) -> bool:
    """Whether this is lab.yaml, the lab plain `vagrant` commands see."""
    return config.path.name == "lab.yaml"


def vagrant_dotfile(config: LabConfig) -> Path:
    """Vagrant's machine folder: .vagrant for lab.yaml, .vagrant-<name> for any
    other lab file. Vagrant keeps one provider per machine name in a folder, so
    two labs whose nodes are both called manager, worker1... need two."""
    return config.root / (".vagrant" if default_lab(config) else f".vagrant-{config.name}")


def parse_ssh_config(text: str) -> dict[str, SSHSettings]:
    """`vagrant ssh-config` output (several Host blocks) -> settings per node."""
    parsed = paramiko.SSHConfig.from_text(text)
    result = {}
    for host in parsed.get_hostnames():
        if host == "*":
            continue
        entry = parsed.lookup(host)
        identity = entry.get("identityfile", [""])
        result[host] = SSHSettings(
            host=host,
            hostname=entry["hostname"],
            port=int(entry.get("port", 22)),
            user=entry.get("user", "vagrant"),
            identity=identity[0] if isinstance(identity, list) else identity,
        )
    return result


def known_hosts(config: LabConfig) -> Path:
    """The lab's own record of its nodes' SSH host keys (lab/hostkeys.py)."""
    return own_dir(config) / hostkeys.FILE


def connection(settings: SSHSettings, known: Path) -> Connection:
    # User-level ssh configs and known_hosts are not consulted: the lab checks
    # host keys against its own file (`known`), written when it first meets a node.
    config = Config(overrides={"load_ssh_configs": False, "run": {"hide": True, "warn": True, "in_stream": False}})
    conn = Connection(
        host=settings.hostname,
        user=settings.user,
        port=settings.port,
        config=config,
        connect_timeout=SSH_TIMEOUT,
        # No identity: the key is in the SSH agent (provider: ssh, agent: true).
        connect_kwargs=({"key_filename": [settings.identity], "allow_agent": False} if settings.identity
                        else {"allow_agent": True}) | {"look_for_keys": False, "banner_timeout": SSH_TIMEOUT},
    )
    conn.client.set_missing_host_key_policy(hostkeys.PinFirstSeen(known))
    return conn


class Vagrant:
    """python-vagrant, pointed at the lab's Vagrantfile, its output in the run log."""

    def __init__(self, config: LabConfig, run: Run | None = None, env: dict | None = None):
        self.config = config
        # The Vagrantfile reads the same lab.yaml the lab was given.
        self.env = vagrant_env() | {"LAB_CONFIG": str(config.path),
                                    "VAGRANT_DOTFILE_PATH": str(vagrant_dotfile(config))} | (env or {})
        log = vagrant.make_file_cm(str(run.log_path)) if run else vagrant.devnull_cm
        self.v = vagrant.Vagrant(str(config.root), env=self.env, out_cm=log, err_cm=log)

    def command(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["vagrant", *args], cwd=self.config.root, env=self.env,
                              capture_output=True, text=True)

    def up(self, provider: str, node: str | None = None) -> None:
        self.v.up(vm_name=node, provider=provider)

    def status(self) -> list[MachineState]:
        return [MachineState(s.name, s.state, s.provider) for s in self.v.status()]

    def ssh_config(self) -> str:
        result = self.command("ssh-config")
        if result.returncode != 0:
            raise vagrant_busy(result.stdout + result.stderr) or LabError(
                "vagrant ssh-config failed", command="vagrant ssh-config", output=result.stdout + result.stderr)
        return result.stdout

    def destroy(self) -> None:
        self.v.destroy()


class Cluster:
    """Fabric connections to every node of lab.yaml, by node name."""

    def __init__(self, config: LabConfig, settings: dict[str, SSHSettings]):
        self.config = config
        self.settings = settings
        self.conns = {name: connection(s, known_hosts(config)) for name, s in settings.items()}

    def __getitem__(self, name: str) -> Connection:
        return self.conns[name]

    @property
    def manager(self) -> Connection:
        return self.conns[self.config.manager.name]

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


def answers(conn: Connection) -> bool:
    try:
        return conn.run("true", hide=True, warn=True, timeout=SSH_TIMEOUT).ok
    except paramiko.BadHostKeyException:
        raise  # it answers, but not as the node the lab knows
    except Exception:  # noqa: BLE001 - any other SSH failure means "does not answer"
        return False


def unreachable(cluster: Cluster, nodes: tuple[Node, ...]) -> list[str]:
    def node_answers(node: Node) -> bool:
        try:
            return answers(cluster[node.name])
        except paramiko.BadHostKeyException as e:
            raise hostkeys.mismatch(node.name, known_hosts(cluster.config), e) from None

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        ok = list(pool.map(node_answers, nodes))
    return [n.name for n, good in zip(nodes, ok) if not good]


def kept_cluster(config: LabConfig) -> Cluster | None:
    """The cluster from the kept ssh-config, if it names every node."""
    path = ssh_config_path(config)
    if not path.exists():
        return None
    settings = parse_ssh_config(path.read_text())
    if set(settings) != {n.name for n in config.nodes}:
        return None
    return Cluster(config, settings)


def fresh_cluster(config: LabConfig, vg: Vagrant, provider) -> Cluster:
    text = provider.ssh_config(config, vg)
    settings = parse_ssh_config(text)
    missing = [n.name for n in config.nodes if n.name not in settings]
    if missing:
        raise LabError(f"vagrant ssh-config has no entry for {', '.join(missing)}",
                       command="vagrant ssh-config", output=text)
    statefiles.write_atomic(ssh_config_path(config), text)
    return Cluster(config, settings)


def prepare_host_dirs(config: LabConfig) -> None:
    """Host directories that node containers mount (see the Vagrantfile)."""
    root = state_dir(config)
    (root / "cache" / "apt").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "registry").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "images").mkdir(parents=True, exist_ok=True)
    (root / "shared" / config.export_path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    console_log(config, config.manager.name).parent.mkdir(parents=True, exist_ok=True)


def console_log(config: LabConfig, node: str) -> Path:
    """Where a VM's serial console is written (libvirt; see the Vagrantfile)."""
    return state_dir(config) / "console" / f"{config.name}-{node}.log"


def by_hand(config: LabConfig, node: str) -> str:
    return f"invoke lab.ssh {node}" + ("" if default_lab(config) else f" --config {config.path.name}")


def up(config: LabConfig, provider, run: Run, step, env: dict | None = None) -> Cluster:
    """Bring every node up with Vagrant and answering SSH; change nothing when
    they already are. `provider` is the lab's (lab/providers/)."""
    kept = kept_cluster(config)
    if kept and not unreachable(kept, config.nodes):
        return kept
    if kept and provider.resume(config, kept, run, step):
        return kept
    prepare_host_dirs(config)
    vg = Vagrant(config, run, env)
    before = {m.name: m.state for m in provider.machine_states(config, vg)}
    provider.check_resources(config, [name for name, state in before.items() if state != "running"])
    command = f"vagrant up --provider={provider.name}"
    run.show_command("host", command)
    for attempt in (1, 2):
        seen = run.log_path.stat().st_size
        try:
            vg.up(provider.name)
            break
        except subprocess.CalledProcessError:
            if attempt == 1 and _lost_network_race(run, seen):
                run.note("another Vagrant lab on this host removed the network while this one was "
                         "being created (vagrant destroy removes every unused vagrant_network); trying again")
                continue
            raise _up_failure(config, provider, vg, run, command) from None
    step.changed("nodes started")
    cluster = fresh_cluster(config, vg, provider)
    # A machine made just now has host keys of its own: the lab meets it anew.
    made = [name for name, state in before.items() if state in ("not_created", "not created")]
    hostkeys.forget(known_hosts(config), [entry_name_of(cluster, name) for name in made])
    silent = unreachable(cluster, config.nodes)
    if silent:
        raise LabError(
            f"node(s) {', '.join(silent)} do not answer SSH",
            command=f"ssh -F {ssh_config_path(config)} {silent[0]} true",
            output=_ssh_config_of(cluster, silent[0]),
            hint=f"{provider.console_hint(config, silent[0])}; then run the command again",
        )
    return cluster


def entry_name_of(cluster: Cluster, node: str) -> str:
    s = cluster.settings[node]
    return hostkeys.entry_name(s.hostname, s.port)


def _lost_network_race(run: Run, since: int) -> bool:
    """Vagrant's docker provider lists every network, then inspects them all;
    `vagrant destroy` of any other lab removes each vagrant_network nothing uses
    yet, so a network can vanish between the two. Only that is worth a retry."""
    with open(run.log_path, "rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return bool(re.search(r"Error response from daemon: network vagrant_network_\S+ not found", text))


def _ssh_config_of(cluster: Cluster, name: str) -> str:
    s = cluster.settings[name]
    return f"Host {name}\n  HostName {s.hostname}\n  Port {s.port}\n  User {s.user}\n  IdentityFile {s.identity}"


def _up_failure(config: LabConfig, provider, vg: Vagrant, run: Run, command: str) -> LabError:
    log_tail = "\n".join(run.log_path.read_text(errors="replace").splitlines()[-25:])
    states = {m.name: m.state for m in vg.status()}
    stuck = [n.name for n in config.nodes if states.get(n.name) != "running"]
    try:
        ssh = vg.ssh_config()
    except LabError:
        ssh = ""
    full_log = run.log_path.read_text(errors="replace")
    busy = vagrant_busy(log_tail)
    if busy:
        return busy
    # Vagrant brings libvirt machines up in parallel: the node that timed out
    # is one that never printed "Machine booted and ready!".
    unready = [n.name for n in config.nodes if f"==> {n.name}: Machine booted and ready!" not in full_log]
    # Vagrant prints each machine's error in a block of its own, and another
    # machine's may come last (a worker whose `docker inspect` lost the race
    # with the timed-out node's removal): the node is the one whose block says so.
    timeouts = ("Timed out while waiting for the machine to boot",
                # vagrant-libvirt, when a VM never got an address on its management network
                "wait_for timeout")
    blocks = re.findall(r"An error occurred while executing the action on the '([^']+)'(.*?)(?=An error occurred while "
                        r"executing the action on the '|\Z)", full_log, re.S)
    timed_out_nodes = [name for name, text in blocks if any(t in text for t in timeouts)]
    timed_out = bool(timed_out_nodes) or any(text in log_tail for text in timeouts)
    which = stuck[0] if stuck else None
    if timed_out:
        which = (timed_out_nodes[0] if timed_out_nodes else None) or (unready[0] if len(unready) == 1 else None) \
            or _last_node_in(log_tail, config) or which
        return LabError(
            f"node {which} did not answer SSH within the boot timeout",
            command=command, node=which, output=log_tail + ("\n" + ssh if ssh else ""),
            hint=f"see its ssh-config above; {provider.console_hint(config, which)}; then run the command again",
        )
    return LabError(
        "vagrant up failed" + (f" (nodes not running: {', '.join(stuck)})" if stuck else ""),
        command=command, node=which, output=log_tail,
        hint="read the log above; fix the cause, then run the command again (it resumes)",
    )


def _last_node_in(text: str, config: LabConfig) -> str | None:
    last = None
    for line in text.splitlines():
        for n in config.nodes:
            if line.startswith(f"==> {n.name}:"):
                last = n.name
    return last


def destroy(config: LabConfig, run: Run) -> bool:
    """Destroy every machine; True when there was something to destroy."""
    vg = Vagrant(config, run)
    created = [m for m in vg.status() if m.state not in ("not_created", "not created")]
    ssh_config_path(config).unlink(missing_ok=True)
    if not created:
        # With nothing created Vagrant would try its default provider, which
        # may not even be usable on this host.
        return False
    run.show_command("host", "vagrant destroy -f")
    # A machine not created (one node removed by hand, or never made) is
    # looked up with Vagrant's default provider, which may not be usable here
    # (libvirt without libvirtd): the lab's machines all have the same one.
    providers_used = {m.provider for m in created if m.provider}
    if len(providers_used) == 1:
        vg = Vagrant(config, run, {"VAGRANT_DEFAULT_PROVIDER": providers_used.pop()})
    try:
        vg.destroy()
    except subprocess.CalledProcessError:
        tail = "\n".join(run.log_path.read_text(errors="replace").splitlines()[-20:])
        busy = vagrant_busy(tail)
        if busy:
            raise busy from None
        raise LabError("vagrant destroy failed", command="vagrant destroy -f", output=tail,
                       hint="read the log; remove what is left by hand (docker rm -f, vagrant global-status --prune)") from None
    return True


def vagrant_busy(text: str) -> LabError | None:
    """Vagrant refused because another Vagrant process holds a machine's lock
    (another lab's lab.up in this folder, or a command still running)."""
    found = re.search(r"Vagrant can't use the requested machine because it is locked!.*?Name: (\S+)", text, re.S)
    if not found:
        return None
    return LabError(f"another Vagrant command is using machine {found.group(1)} right now, so Vagrant refused",
                    node=found.group(1), output=text,
                    hint="wait for it to end (`ps ax | grep [v]agrant` shows it: another lab's lab.up or destroy "
                         "in this folder), then run the command again; nothing was changed")


def describe(config: LabConfig, machines: list[MachineState]) -> list[dict]:
    """Rows for the lab.nodes.status table."""
    kept = kept_cluster(config)
    by_name = {m.name: m for m in machines}
    rows = []
    for n in config.nodes:
        m = by_name.get(n.name)
        port = kept.settings[n.name].port if kept and m and m.state == "running" else None
        rows.append({"name": n.name, "role": n.role, "address": n.address,
                     "state": m.state if m else "unknown", "ssh_port": port})
    return rows

