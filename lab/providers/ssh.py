"""Servers you already have (a class's cloud instances, lab PCs, a trainer's
own VMs), reached directly over SSH: no Vagrant, nothing created or deleted.

lab.up checks what the tutorial takes for granted (each server answers, runs
Debian 12 or Ubuntu 22.04/24.04, lets its user sudo without a password, and
reaches the others on the swarm's ports), then runs the same steps as every
other provider. lab.destroy undoes what the lab did and leaves the servers.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import host, hostkeys, nodes, statefiles
from ..config import LabConfig, Node
from ..runlog import LabError, Run
from .vagrant import base_image

SUPPORTED = {("debian", "12"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
# What swarm needs between nodes: management (to the manager), gossip, VXLAN.
TCP_TO_MANAGER = (2377,)
TCP_TO_ALL = (7946,)
UDP_TO_ALL = (7946, 4789)
LISTEN_SECONDS = 14
PROBE_AFTER = 4
# The tutorial's ports on the manager that the host reaches on 127.0.0.1.
MANAGER_FORWARDS = {"web": 80, "api": 8080}

LISTENER = r"""
import json, select, socket, sys, time
tcp, udp, until = json.loads(sys.argv[1]), json.loads(sys.argv[2]), time.time() + float(sys.argv[3])
socks, busy, seen = {}, [], {}
for proto, kind, ports in (("tcp", socket.SOCK_STREAM, tcp), ("udp", socket.SOCK_DGRAM, udp)):
    for p in ports:
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", p))
            if proto == "tcp":
                s.listen(16)
            socks[s] = "%d/%s" % (p, proto)
        except OSError:
            busy.append("%d/%s" % (p, proto))
print("listening", flush=True)
while time.time() < until:
    for s in select.select(list(socks), [], [], 0.2)[0]:
        if socks[s].endswith("tcp"):
            c, a = s.accept()
            c.close()
        else:
            _, a = s.recvfrom(64)
        seen.setdefault(socks[s], []).append(a[0])
print(json.dumps({"busy": busy, "seen": seen}))
"""

PROBER = r"""
import json, socket, sys, time
out = {}
for t in json.loads(sys.argv[1]):
    for p in t["tcp"]:
        err, deadline = "", time.time() + 6
        while time.time() < deadline:
            try:
                socket.create_connection((t["address"], p), timeout=2).close()
                err = ""
                break
            except OSError as e:
                err = str(e) or type(e).__name__
                time.sleep(0.5)
        out["%s %d/tcp" % (t["address"], p)] = err
    for p in t["udp"]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(6):
            try:
                s.sendto(b"lab", (t["address"], p))
            except OSError as e:
                out["%s %d/udp" % (t["address"], p)] = str(e)
            time.sleep(0.3)
print(json.dumps(out))
"""


def settings(config: LabConfig) -> dict[str, nodes.SSHSettings]:
    return {n.name: nodes.SSHSettings(n.name, n.host, n.port, n.user, n.key or "") for n in config.nodes}


def ssh_config_text(config: LabConfig) -> str:
    """The kept ssh-config, in the same form `vagrant ssh-config` gives."""
    blocks = []
    for n in config.nodes:
        lines = [f"Host {n.name}", f"  HostName {n.host}", f"  Port {n.port}", f"  User {n.user}"]
        if n.key:
            lines.append(f"  IdentityFile {n.key}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def forward_path(config: LabConfig) -> Path:
    return nodes.own_dir(config) / "forward.json"


def forward_pid(config: LabConfig) -> int | None:
    """The ssh process that holds this lab's 127.0.0.1 forwards, if it runs."""
    path = forward_path(config)
    if not path.exists():
        return None
    pid = json.loads(path.read_text()).get("pid")
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if cmdline and cmdline[0].endswith(b"ssh") and b"-L" in cmdline else None


def forward_argv(config: LabConfig) -> list[str]:
    m = config.manager
    ports = {"web": config.host_ports.web, "api": config.host_ports.api}
    argv = ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", *hostkeys.openssh_options(nodes.known_hosts(config)),
            "-o", "ServerAliveInterval=15", "-o", "BatchMode=yes", "-p", str(m.port)]
    if m.key:
        argv += ["-o", "IdentitiesOnly=yes", "-i", m.key]
    for key, guest in MANAGER_FORWARDS.items():
        argv += ["-L", f"127.0.0.1:{ports[key]}:{m.address}:{guest}"]
    return argv + [f"{m.user}@{m.host}"]


class SSHProvider:
    name = "ssh"
    chosen_because = "servers named in lab.yaml"

    def available(self, config: LabConfig) -> str | None:
        if config.provider == self.name:
            return None
        return "servers you already have are used only when lab.yaml names them (provider: ssh)"

    def prepare(self, config: LabConfig, run: Run) -> None:
        host.require_tools("ssh")
        agent = [n.name for n in config.nodes if not n.key]
        if agent and not os.environ.get("SSH_AUTH_SOCK"):
            raise LabError(f"{', '.join(agent)} log in with the SSH agent (agent: true), but no agent runs here "
                           "(SSH_AUTH_SOCK is not set)",
                           hint="start one and add the key (eval $(ssh-agent); ssh-add KEY), or give key: <path>")
        host.check_host_ports(config, self.owned_ports(config))
        base_image(run)

    def up(self, config: LabConfig, run: Run) -> nodes.Cluster:
        with run.step(f"servers: SSH, OS and sudo ({len(config.nodes)} servers)") as step:
            cluster = nodes.Cluster(config, settings(config))
            try:
                found = reach_each(config, cluster, run)
            except BaseException:
                cluster.close()
                raise
            step.detail = ", ".join(f"{name} {os_}" for name, os_ in found.items())
            kept = nodes.ssh_config_path(config)
            text = ssh_config_text(config)
            if not kept.exists() or kept.read_text() != text:
                statefiles.write_atomic(kept, text)
                step.changed(step.detail)
        with run.step("servers: swarm ports between nodes (2377/tcp, 7946/tcp+udp, 4789/udp)") as step:
            step.detail = check_ports(config, cluster, run, step)
        with run.step("host: 127.0.0.1 forwards to the manager (ssh -L)") as step:
            started = start_forwards(config, run)
            step.detail = (f"127.0.0.1:{config.host_ports.web} -> manager:80, "
                           f"127.0.0.1:{config.host_ports.api} -> manager:8080")
            if started:
                step.changed(step.detail)
        return cluster

    def start_node(self, config: LabConfig, run: Run, node: str) -> nodes.Cluster:
        cluster = nodes.Cluster(config, settings(config))
        if nodes.unreachable(cluster, (config.node(node),)):
            cluster.close()
            raise LabError(f"{node} does not answer, and the lab does not start servers it did not create",
                           hint=f"start {node} yourself; {self.console_hint(config, node)}")
        return cluster

    def stop_node(self, config: LabConfig, run: Run, node: str) -> None:
        raise LabError("this drill stops a machine; on servers you already have the lab does not stop any",
                       hint="run it on a lab of VMs or node containers (provider: auto)")

    def halt(self, config: LabConfig, run: Run) -> list[str]:
        stop_forwards(config, run)
        run.note("the servers are yours: lab.down stops only the lab's 127.0.0.1 forwards, not the servers")
        return []

    def destroy(self, config: LabConfig, run: Run, everything: bool) -> list[str]:
        done = stop_forwards(config, run)
        cluster = nodes.Cluster(config, settings(config))
        try:
            down = nodes.unreachable(cluster, config.nodes)
            up_ = [n for n in config.nodes if n.name not in down]
            if up_:
                done += undo_on_servers(config, cluster, up_, run, everything)
        finally:
            cluster.close()
        nodes.ssh_config_path(config).unlink(missing_ok=True)
        check_cache(config).unlink(missing_ok=True)
        kept = "docker.io removed too (--all)" if everything else "Docker stays installed (--all removes docker.io)"
        run.note(f"no server was deleted: the lab undid what it did on them; {kept}")
        if down:
            raise LabError(f"{', '.join(down)} did not answer: nothing was undone there",
                           hint="start them and run lab.destroy again")
        return done

    def leftovers(self, config: LabConfig) -> list[str]:
        pid = forward_pid(config)
        return [f"ssh forward process {pid}"] if pid else []

    def owned_ports(self, config: LabConfig) -> set[int]:
        return {config.host_ports.web, config.host_ports.api} if forward_pid(config) else set()

    def console_hint(self, config: LabConfig, node: str) -> str:
        n = config.node(node)
        return f"try it by hand: ssh -p {n.port} {n.user}@{n.host}, or see the server's own console"

    def check_resources(self, config: LabConfig, starting: list[str]) -> None:
        # The servers' memory is their own; nothing here is taken from the host.
        return None

    def patience(self, config: LabConfig) -> float:
        return 1.0

    def status(self, config: LabConfig) -> list[nodes.MachineState]:
        cluster = nodes.Cluster(config, settings(config))
        try:
            down = set(nodes.unreachable(cluster, config.nodes))
        finally:
            cluster.close()
        return [nodes.MachineState(n.name, "not answering" if n.name in down else "running", self.name)
                for n in config.nodes]


# -- lab.up: what the servers must be -----------------------------------------

FACTS = ". /etc/os-release; echo \"os=$ID $VERSION_ID\"; " \
        "if sudo -n true 2>/dev/null; then echo sudo=yes; else echo sudo=no; fi; " \
        "command -v python3 >/dev/null && echo python3=yes || echo python3=no; echo \"host=$(hostname)\""


def reach_each(config: LabConfig, cluster: nodes.Cluster, run: Run) -> dict[str, str]:
    """Each server answers, runs a supported OS, sudo works; the OS found per node."""
    def facts(n: Node):
        try:
            res = cluster[n.name].run(FACTS, hide=True, warn=True, timeout=nodes.SSH_TIMEOUT * 3)
        except Exception as exc:  # noqa: BLE001 - any SSH failure: name the server
            return n, None, f"{type(exc).__name__}: {exc}"
        return n, res.stdout, "" if res.ok else res.stderr
    with ThreadPoolExecutor(max_workers=len(config.nodes)) as pool:
        results = list(pool.map(facts, config.nodes))
    found = {}
    for n, out, err in results:
        where = f"{n.user}@{n.host}:{n.port}"
        if out is None:
            raise LabError(f"{n.name} ({where}) does not answer SSH: {err}", node=n.name,
                           command=f"ssh -p {n.port} {n.user}@{n.host} true",
                           hint="is the server up, its address and port right in lab.yaml, and the key the one "
                                f"in ~{n.user}/.ssh/authorized_keys there?")
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        os_id, _, version = values.get("os", "").partition(" ")
        run.log(f"{n.name}: {out.strip()}")
        if (os_id, version) not in SUPPORTED:
            raise LabError(f"{n.name} runs {values.get('os') or 'an unknown system'}; the lab supports "
                           "Debian 12 and Ubuntu 22.04/24.04", node=n.name, command="cat /etc/os-release",
                           output=out, hint="use a server with one of those systems")
        if values.get("sudo") != "yes":
            raise LabError(f"{n.name}: {n.user} cannot sudo without a password", node=n.name, command="sudo -n true",
                           hint=f"as root on {n.name}: echo '{n.user} ALL=(ALL) NOPASSWD:ALL' > "
                                f"/etc/sudoers.d/lab-{n.user} && chmod 440 /etc/sudoers.d/lab-{n.user}")
        if values.get("host") != n.name:
            # The swarm lists nodes by hostname; every check of the lab finds them by their lab.yaml name.
            raise LabError(f"{n.name} ({where}) is called {values.get('host')!r} on the server; the swarm names "
                           "nodes by hostname", node=n.name, command="hostname",
                           hint=f"call the node {values.get('host')} in lab.yaml, or on the server: sudo hostnamectl set-hostname {n.name}")
        if values.get("python3") != "yes":
            raise LabError(f"{n.name} has no python3 (the lab checks the swarm's ports with it)", node=n.name,
                           hint=f"on {n.name}: sudo apt-get install -y python3")
        found[n.name] = f"{os_id} {version}"
    return found


def check_cache(config: LabConfig) -> Path:
    return nodes.own_dir(config) / "ports-checked"


def check_ports(config: LabConfig, cluster: nodes.Cluster, run: Run, step) -> str:
    """Every node reaches every other on the swarm's ports, or the node and
    port that fail are named. Checked once per set of servers (kept)."""
    key = hashlib.sha256(ssh_config_text(config).encode() + repr(config.nodes).encode()).hexdigest()
    cache = check_cache(config)
    if cache.exists() and cache.read_text().strip() == key:
        return "checked on an earlier lab.up for these servers"
    tcp_ports = {n.name: list(TCP_TO_ALL) + (list(TCP_TO_MANAGER) if n.is_manager else []) for n in config.nodes}

    def listen(n: Node):
        cmd = (f"timeout {LISTEN_SECONDS + 10} python3 -c {shlex.quote(LISTENER)} "
               f"{shlex.quote(json.dumps(tcp_ports[n.name]))} {shlex.quote(json.dumps(list(UDP_TO_ALL)))} "
               f"{LISTEN_SECONDS}")
        return cluster[n.name].run(cmd, hide=True, warn=True, timeout=LISTEN_SECONDS + 30)

    def probe(n: Node):
        targets = [{"address": t.address, "tcp": tcp_ports[t.name], "udp": list(UDP_TO_ALL)}
                   for t in config.nodes if t.name != n.name]
        cmd = f"python3 -c {shlex.quote(PROBER)} {shlex.quote(json.dumps(targets))}"
        return cluster[n.name].run(cmd, hide=True, warn=True, timeout=LISTEN_SECONDS + 30)

    with ThreadPoolExecutor(max_workers=2 * len(config.nodes)) as pool:
        listening = [pool.submit(listen, n) for n in config.nodes]
        time.sleep(PROBE_AFTER)
        probing = [pool.submit(probe, n) for n in config.nodes]
        heard = {n.name: f.result() for n, f in zip(config.nodes, listening)}
        sent = {n.name: f.result() for n, f in zip(config.nodes, probing)}
    failures, untested = [], []
    for name, res in list(heard.items()) + list(sent.items()):
        run.log(f"{name}: {res.stdout}{res.stderr}")
        if not res.ok or not res.stdout.strip():
            raise LabError(f"the port check could not run on {name}", node=name, output=res.stdout + res.stderr)
    for src in config.nodes:
        tried = json.loads(sent[src.name].stdout.strip().splitlines()[-1])
        for dst in config.nodes:
            if dst is src:
                continue
            got = json.loads(heard[dst.name].stdout.strip().splitlines()[-1])
            for port in tcp_ports[dst.name]:
                err = tried.get(f"{dst.address} {port}/tcp", "not tried")
                if err:
                    failures.append(f"{src.name} cannot reach {dst.name} ({dst.address}) on {port}/tcp: {err}")
            for port in UDP_TO_ALL:
                label = f"{port}/udp"
                if label in got["busy"]:
                    untested.append(f"{label} on {dst.name}")
                elif src.address not in got["seen"].get(label, []):
                    failures.append(f"{dst.name} ({dst.address}) got no {label} datagram from {src.name}")
    if failures:
        raise LabError(f"the servers do not reach each other on the swarm's ports: {failures[0]}",
                       output="\n".join(failures),
                       hint="open 2377/tcp (to the manager), 7946/tcp+udp and 4789/udp between the servers' "
                            "lab addresses (cloud: the security group; a PC: its firewall), then run lab.up again")
    statefiles.write_atomic(cache, key + "\n")
    detail = "every node reaches every other"
    if untested:
        detail += f" (held by the engine already, not tested again: {', '.join(sorted(set(untested)))})"
    step.changed(detail)
    return detail


def start_forwards(config: LabConfig, run: Run) -> bool:
    """One ssh process forwards 127.0.0.1's web and api ports to the manager;
    its pid is kept so lab.destroy and a later lab.up find it."""
    if forward_pid(config):
        return False
    argv = forward_argv(config)
    run.show_command("host", " ".join(shlex.quote(a) for a in argv) + " &")
    log = (nodes.own_dir(config) / "forward.log").open("ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    statefiles.write_atomic(forward_path(config), json.dumps({"pid": proc.pid, "argv": argv}) + "\n")
    # Up once both ports listen; ExitOnForwardFailure ends it if one cannot be bound.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None and \
            (host.port_free(config.host_ports.web) or host.port_free(config.host_ports.api)):
        time.sleep(0.2)
    if proc.poll() is not None or host.port_free(config.host_ports.web):
        raise LabError("the 127.0.0.1 forwards to the manager did not start", command=" ".join(argv),
                       output=(nodes.own_dir(config) / "forward.log").read_text(errors="replace")[-2000:],
                       hint="read the output above (a port in use, or the manager refusing the key)")
    return True


def stop_forwards(config: LabConfig, run: Run) -> list[str]:
    pid = forward_pid(config)
    forward_path(config).unlink(missing_ok=True)
    if not pid:
        return []
    run.show_command("host", f"kill {pid}")
    os.kill(pid, signal.SIGTERM)
    return [f"stopped the 127.0.0.1 forwards (ssh, pid {pid})"]


# -- lab.destroy: undo what the lab did, keep the servers -------------------------

def undo_on_servers(config: LabConfig, cluster: nodes.Cluster, reachable: list[Node], run: Run,
                    everything: bool) -> list[str]:
    from ..remote import on_each, sh
    from ..steps import app_source, daemon_json, registry
    m = config.manager
    done = []
    has_docker = {n.name: sh(run, cluster[n.name], n.name, "command -v docker", check=False).ok for n in reachable}
    if has_docker.get(m.name):
        stack = config.stack_name
        if sh(run, cluster[m.name], m.name, f"docker stack ls --format '{{{{.Name}}}}' | grep -qx {stack}",
              check=False).ok:
            sh(run, cluster[m.name], m.name, f"docker stack rm {stack}")
            done.append(f"stack {stack} removed")
        # The stack's containers go away asynchronously, on every node; wait, bounded.
        wait = (f"for i in $(seq 60); do [ -z \"$(docker ps -aq --filter label=com.docker.stack.namespace={stack})\" ]"
                " && break; sleep 1; done")
        on_each([n for n in reachable if has_docker[n.name]],
                lambda n: sh(run, cluster[n.name], n.name, wait, check=False, teach=False))
        if sh(run, cluster[m.name], m.name, f"docker rm -f {registry.CONTAINER}", check=False).ok:
            done.append(f"registry container removed from {m.name}")
        sh(run, cluster[m.name], m.name, f"docker volume rm {registry.VOLUME}", check=False)
    sh(run, cluster[m.name], m.name, f"rm -rf {registry.STORAGE}", check=False)
    left = []
    for n in reachable:
        if not has_docker[n.name]:
            continue
        if sh(run, cluster[n.name], n.name, "docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active "
              "&& docker swarm leave --force", check=False).ok:
            left.append(n.name)
        # A task container the swarm had not removed yet when the node left.
        sh(run, cluster[n.name], n.name, "docker ps -aq --filter label=com.docker.swarm.task.id | xargs -r docker rm -f",
           check=False, teach=False)
        # Images the lab brought: the registry's, the app's (named after the registry), its Debian base.
        sh(run, cluster[n.name], n.name,
           f"docker image ls --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep -E "
           f"{shlex.quote('^(' + config.registry.replace('.', '[.]') + '/|registry:2$|lab/)')} "
           f"| xargs -r docker image rm -f", check=False)
    if left:
        done.append(f"swarm left on {', '.join(left)}")
    export = f"{config.export_path} "
    grep, sed = shlex.quote("^" + export), shlex.quote("\\#^" + export + "#d")
    if sh(run, cluster[m.name], m.name, f"grep -q {grep} /etc/exports 2>/dev/null && "
          f"sed -i {sed} /etc/exports && (exportfs -ra || true)", check=False).ok:
        done.append(f"export of {config.export_path} removed from /etc/exports")
    sh(run, cluster[m.name], m.name, f"rm -rf {app_source.REPOSITORY}", check=False)
    undone = []
    for n in reachable:
        if undo_daemon_json(config, cluster, n, run, daemon_json.PATH, restart=has_docker[n.name] and not everything):
            undone.append(n.name)
    if undone:
        done.append(f"daemon.json keys the lab added removed on {', '.join(undone)}")
    if everything:
        purged = []
        for n in reachable:
            if has_docker[n.name]:
                sh(run, cluster[n.name], n.name, "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q docker.io",
                   timeout=600)
                purged.append(n.name)
        if purged:
            done.append(f"docker.io removed from {', '.join(purged)}")
    run.note(f"the data directory {config.export_path} is kept on {m.name} (the database's files; "
             f"remove it by hand if no longer wanted: sudo rm -rf {config.export_path})")
    return done


def undo_daemon_json(config: LabConfig, cluster: nodes.Cluster, n: Node, run: Run, path: str,
                     restart: bool) -> bool:
    """Take out the lab's registry and resolver; a file left empty goes."""
    from ..remote import sh
    res = sh(run, cluster[n.name], n.name, f"cat {path}", check=False, teach=False)
    if not res.ok:
        return False
    try:
        data = json.loads(res.stdout or "{}")
    except ValueError:
        run.note(f"{n.name}: {path} is not valid JSON; left as it is")
        return False
    changed = False
    if config.registry in data.get("insecure-registries", []):
        data["insecure-registries"].remove(config.registry)
        changed = True
    try:
        resolver = host.host_resolver()
    except LabError:
        resolver = None
    if resolver and resolver in data.get("dns", []):
        data["dns"].remove(resolver)
        changed = True
    if not changed:
        return False
    data = {k: v for k, v in data.items() if v != []}
    write = (f"rm -f {path}" if not data else
             f"printf '%s\\n' {shlex.quote(json.dumps(data, indent=2))} > {path}.new && mv {path}.new {path}")
    sh(run, cluster[n.name], n.name, write + (" && systemctl restart docker" if restart else ""))
    return True


PROVIDER = SSHProvider()
