"""The providers' one interface: every provider follows it, `auto` walks them
in order with its reasons, and nothing outside lab/providers/ (and the
Vagrantfile and the probe) asks which provider runs."""
import inspect
import json
import re
from pathlib import Path

import pytest
import yaml

from lab import config as cfg
from lab import providers
from lab.providers import docker, libvirt, ssh, virtualbox

ROOT = Path(__file__).resolve().parents[2]
MODULES = (docker, libvirt, virtualbox, ssh)
PROTOCOL_METHODS = [name for name, member in vars(providers.Provider).items()
                    if inspect.isfunction(member) and not name.startswith("_")]


def lab(provider="auto"):
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    data["provider"] = provider
    return cfg.parse(data, ROOT / "lab.yaml")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_each_provider_module_follows_the_protocol(module):
    provider = module.PROVIDER
    assert isinstance(provider, providers.Provider)
    assert len(PROTOCOL_METHODS) >= 10, PROTOCOL_METHODS
    for name in PROTOCOL_METHODS:
        wanted = list(inspect.signature(getattr(providers.Provider, name)).parameters)[1:]
        got = list(inspect.signature(getattr(provider, name)).parameters)
        assert got == wanted, f"{module.__name__}.{name}{got} differs from the protocol's {wanted}"
    assert provider.name and provider.chosen_because
    assert providers.get(provider.name) is provider


def test_config_and_providers_know_the_same_names():
    assert set(cfg.PROVIDERS) == {"auto", *providers.names()}


class Fake:
    def __init__(self, provider, reason):
        self.name, self.chosen_because, self.reason = provider.name, provider.chosen_because, reason

    def available(self, config):
        return self.reason


def fakes(**reasons):
    """The real order, each provider available (None) or not (its reason)."""
    return {name: Fake(p, reasons.get(name)) for name, p in providers.all_providers().items()}


def test_auto_tries_virtualbox_then_libvirt_then_docker_and_says_why():
    assert list(providers.all_providers())[:3] == ["virtualbox", "libvirt", "docker"]
    assert providers.choose(lab(), fakes()).name == "virtualbox"
    choice = providers.choose(lab(), fakes(virtualbox="no working VirtualBox"))
    assert choice.name == "libvirt"
    assert choice.why == "auto: no working VirtualBox; KVM runs guests and vagrant-libvirt is installed"
    choice = providers.choose(lab(), fakes(virtualbox="no working VirtualBox", libvirt="no KVM that runs guests"))
    assert choice.name == "docker"
    assert choice.why.startswith("auto: no working VirtualBox; no KVM that runs guests; nodes are containers")


def test_auto_never_picks_servers_and_says_so_when_nothing_runs():
    assert ssh.PROVIDER.available(lab()) is not None
    with pytest.raises(providers.LabError) as err:
        providers.choose(lab(), fakes(virtualbox="a", libvirt="b", docker="c",
                                      ssh="servers only when named"))
    assert "no provider can run here: a; b; c; servers only when named" in str(err.value)


def test_an_explicit_provider_is_kept_and_said_why():
    choice = providers.choose(lab("libvirt"), fakes())
    assert (choice.name, choice.why) == ("libvirt", "set in lab.yaml")
    second = providers.choose(cfg.load(ROOT / "lab.libvirt.yaml"), fakes())
    assert second.why == "set in lab.libvirt.yaml"


def test_the_recorded_choice_is_the_current_provider(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text((ROOT / "lab.yaml").read_text())
    config = cfg.load(path)
    providers.record(config, providers.Choice(libvirt.PROVIDER, "test"))
    assert providers.recorded(config) == {"provider": "libvirt", "why": "test"}
    assert providers.current(config) is libvirt.PROVIDER


# A provider's name compared with a string: `== "libvirt"`, `"docker" !=`,
# `in ("libvirt", ...)`, `provider == 'ssh'`.
NAME = r"""["'](?:docker|libvirt|virtualbox|ssh)["']"""
COMPARED = re.compile(rf"""(?:[=!]=\s*{NAME})|(?:{NAME}\s*[=!]=)|(?:\bin\s*[(\[{{][^)\]}}]*{NAME})""")
ALLOWED = ("lab/providers/", "lab/probe.py")


def provider_name_comparisons(paths):
    found = []
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if COMPARED.search(line.split("#", 1)[0]):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_the_pattern_finds_a_comparison():
    assert COMPARED.search('if provider == "libvirt":')
    assert COMPARED.search("if 'docker' != choice.name:")
    assert COMPARED.search('if name in ("virtualbox", "x"):')
    assert not COMPARED.search('run(["docker", "port", name])')


def test_no_provider_name_is_compared_outside_the_providers():
    sources = sorted((ROOT / "lab").rglob("*.py")) + [ROOT / "tasks.py"]
    assert len(sources) > 30
    assert provider_name_comparisons(sources) == []


# -- provider: ssh -----------------------------------------------------------------

def ssh_lab(tmp_path, **node_extra):
    key = tmp_path / "id_test"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n")
    data = yaml.safe_load((ROOT / "lab.ssh.yaml").read_text())
    for i, node in enumerate(data["nodes"]):
        node["key"] = str(key)
        node.update({k: (v(i) if callable(v) else v) for k, v in node_extra.items()})
        node.update({k: None for k, v in node_extra.items() if v is None})
        for k in [k for k, v in node.items() if v is None]:
            del node[k]
    return data


def test_an_ssh_lab_file_names_host_user_key_and_defaults_the_port(tmp_path):
    config = cfg.parse(ssh_lab(tmp_path), tmp_path / "lab.yaml")
    m = config.manager
    assert (config.provider, m.host, m.port, m.user, m.key) == ("ssh", "192.168.61.10", 22, "vagrant",
                                                               str(tmp_path / "id_test"))
    assert ssh.ssh_config_text(config).startswith(
        f"Host manager\n  HostName 192.168.61.10\n  Port 22\n  User vagrant\n  IdentityFile {tmp_path / 'id_test'}\n")


@pytest.mark.parametrize("change, error", [
    (lambda d, t: d["nodes"][1].update(key=str(t / "gone")), "nodes[1].key: " + "{t}/gone: no such file"),
    (lambda d, t: d["nodes"][0].update(key=str(t)), "nodes[0].key: {t} cannot be read"),
    (lambda d, t: (t / "k.pub").write_text("ssh-ed25519 AAAA x") and d["nodes"][2].update(key=str(t / "k.pub")),
     "nodes[2].key: {t}/k.pub is not a private key"),
    (lambda d, t: d["nodes"][0].update(agent=True), "nodes[0]: give either key"),
    (lambda d, t: d["nodes"][0].pop("key"), "nodes[0]: give either key"),
    (lambda d, t: d["nodes"][0].update(password="x"), "nodes[0].password: unknown key"),
    (lambda d, t: d["nodes"][3].pop("user"), "nodes[3].user: missing"),
    (lambda d, t: d["nodes"][0].update(port=0), "nodes[0].port: 0 is not allowed"),
    (lambda d, t: d["nodes"][0].update(host="a b"), "nodes[0].host: 'a b' is not allowed"),
    (lambda d, t: d.update(provider="docker"), "nodes[0].host: only for provider: ssh"),
])
def test_an_ssh_lab_file_with_a_fault_is_refused_naming_it(tmp_path, change, error):
    data = ssh_lab(tmp_path)
    change(data, tmp_path)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.parse(data, tmp_path / "lab.yaml")
    assert error.format(t=tmp_path) in str(err.value)


def test_agent_instead_of_a_key(tmp_path):
    data = ssh_lab(tmp_path)
    for node in data["nodes"]:
        del node["key"]
        node["agent"] = True
    config = cfg.parse(data, tmp_path / "lab.yaml")
    assert config.manager.key is None
    assert "IdentityFile" not in ssh.ssh_config_text(config)
    assert "-i" not in ssh.forward_argv(config)


class FakeConn:
    def __init__(self, out):
        self.out = out

    def run(self, command, **kw):
        from types import SimpleNamespace
        return SimpleNamespace(ok=True, stdout=self.out, stderr="")


@pytest.mark.parametrize("facts, said", [
    ("os=centos 9\nsudo=yes\npython3=yes\nhost={name}", "manager runs centos 9; the lab supports Debian 12"),
    ("os=debian 12\nsudo=no\npython3=yes\nhost={name}", "manager: vagrant cannot sudo without a password"),
    ("os=ubuntu 24.04\nsudo=yes\npython3=yes\nhost=box7", "is called 'box7' on the server"),
    ("os=ubuntu 22.04\nsudo=yes\npython3=no\nhost={name}", "manager has no python3"),
])
def test_servers_that_do_not_fit_are_named_with_what_was_found(tmp_path, facts, said):
    from types import SimpleNamespace
    config = cfg.parse(ssh_lab(tmp_path), tmp_path / "lab.yaml")
    cluster = {n.name: FakeConn(facts.format(name=n.name)) for n in config.nodes}
    with pytest.raises(providers.LabError) as err:
        ssh.reach_each(config, cluster, SimpleNamespace(log=lambda text: None))
    assert said in str(err.value)
    ok = {n.name: FakeConn(f"os=debian 12\nsudo=yes\npython3=yes\nhost={n.name}") for n in config.nodes}
    assert ssh.reach_each(config, ok, SimpleNamespace(log=lambda text: None))["worker3"] == "debian 12"


class PortConn:
    """A server's side of the port check: what its listener heard, what its prober could connect to."""

    def __init__(self, heard, tried):
        self.heard, self.tried = heard, tried

    def run(self, command, **kw):
        from types import SimpleNamespace
        out = self.heard if "listening" in command else self.tried
        return SimpleNamespace(ok=True, stdout="listening\n" + json.dumps(out) + "\n", stderr="")


def port_cluster(config, drop_udp=None, refuse_tcp=None):
    """Every node hears every other on each port, but for drop_udp=(dst, src, port)
    and refuse_tcp=(src, dst, port)."""
    cluster = {}
    for n in config.nodes:
        others = [o for o in config.nodes if o is not n]
        seen = {f"{p}/udp": [o.address for o in others if (n.name, o.name, p) != drop_udp] for p in ssh.UDP_TO_ALL}
        tried = {}
        for o in others:
            for p in ssh.TCP_TO_ALL + (ssh.TCP_TO_MANAGER if o.is_manager else ()):
                tried[f"{o.address} {p}/tcp"] = "timed out" if (n.name, o.name, p) == refuse_tcp else ""
        cluster[n.name] = PortConn({"busy": [], "seen": seen}, tried)
    return cluster


def test_the_port_check_names_the_node_and_port_that_fail(tmp_path, monkeypatch):
    from types import SimpleNamespace
    monkeypatch.setattr(ssh, "PROBE_AFTER", 0)
    monkeypatch.setattr(ssh.nodes, "own_dir", lambda c: tmp_path)
    config = cfg.parse(ssh_lab(tmp_path), tmp_path / "lab.yaml")
    run = SimpleNamespace(log=lambda text: None)
    step = SimpleNamespace(changed=lambda text: None)
    with pytest.raises(providers.LabError) as err:
        ssh.check_ports(config, port_cluster(config, drop_udp=("worker2", "worker3", 4789)), run, step)
    assert "worker2 (192.168.61.12) got no 4789/udp datagram from worker3" in str(err.value)
    with pytest.raises(providers.LabError) as err:
        ssh.check_ports(config, port_cluster(config, refuse_tcp=("worker1", "manager", 2377)), run, step)
    assert "worker1 cannot reach manager (192.168.61.10) on 2377/tcp: timed out" in str(err.value)
    assert "2377/tcp (to the manager)" in err.value.hint
    assert ssh.check_ports(config, port_cluster(config), run, step) == "every node reaches every other"
    assert "earlier lab.up" in ssh.check_ports(config, port_cluster(config, drop_udp=("a", "b", 1)), run, step)


def test_destroy_takes_out_only_the_daemon_json_keys_the_lab_added(tmp_path, monkeypatch):
    from lab import remote
    config = cfg.parse(ssh_lab(tmp_path), tmp_path / "lab.yaml")
    monkeypatch.setattr(ssh.host, "host_resolver", lambda: "10.0.0.53")
    ran = []
    files = {"manager": {"insecure-registries": [config.registry, "other:5000"], "dns": ["10.0.0.53"],
                         "log-driver": "json-file"},
             "worker1": {"insecure-registries": [config.registry], "dns": ["10.0.0.53"]},
             "worker2": {"debug": True}}

    def fake_sh(run, conn, node, command, **kw):
        ran.append((node, command))
        ok = node in files
        return remote.Result(0 if ok else 1, json.dumps(files.get(node, {})), "")
    monkeypatch.setattr(remote, "sh", fake_sh)
    nodes_ = {n.name: n for n in config.nodes}
    conns = {n: None for n in nodes_}
    did = {name: ssh.undo_daemon_json(config, conns, nodes_[name], None, "/etc/docker/daemon.json", restart=True)
           for name in ("manager", "worker1", "worker2", "worker3")}
    assert did == {"manager": True, "worker1": True, "worker2": False, "worker3": False}
    writes = {node: cmd for node, cmd in ran if not cmd.startswith("cat ")}
    assert set(writes) == {"manager", "worker1"}
    assert '"other:5000"' in writes["manager"] and '"log-driver": "json-file"' in writes["manager"]
    assert config.registry not in writes["manager"] and "10.0.0.53" not in writes["manager"]
    assert writes["worker1"].startswith("rm -f /etc/docker/daemon.json") and "systemctl restart docker" in writes["worker1"]


def test_docker_machines_read_from_docker_and_vagrants_folders(tmp_path, monkeypatch):
    """States and SSH settings without Vagrant: a machine folder with no
    container is not created; a stopped node or one with no key leaves the
    SSH settings to `vagrant ssh-config`."""
    config = lab("docker")
    dotfile = tmp_path / ".vagrant"
    monkeypatch.setattr(docker.nodes, "vagrant_dotfile", lambda c: dotfile)
    monkeypatch.setattr(docker, "node_key_path", lambda c: tmp_path / "no-lab-key")
    ports = {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "2200"}], "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}]}
    containers = {"id-manager": ("true", ports), "id-worker1": ("false", {}),
                  "id-worker2": ("true", {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "2201"}]})}
    for n in config.nodes[:4]:
        (dotfile / "machines" / n.name / "docker").mkdir(parents=True)
        (dotfile / "machines" / n.name / "docker" / "id").write_text(f"id-{n.name}\n")
        (dotfile / "machines" / n.name / "docker" / "private_key").write_text("key")
    asked = []

    def docker_inspect(argv, **kwargs):
        asked.append(argv)
        out = "".join(f"{cid} {containers[cid][0]} {json.dumps(containers[cid][1])}\n"
                      for cid in argv[4:] if cid in containers)
        return type("Done", (), {"stdout": out, "returncode": 1})()
    monkeypatch.setattr(docker.subprocess, "run", docker_inspect)

    class Vagrant:
        def ssh_config(self):
            return "from vagrant"
    states = docker.PROVIDER.machine_states(config, Vagrant())
    assert [(m.name, m.state) for m in states] == [("manager", "running"), ("worker1", "stopped"),
                                                  ("worker2", "running"), ("worker3", "not_created")]
    assert len(asked) == 1  # one docker inspect for every node
    assert docker.PROVIDER.ssh_config(config, Vagrant()) == "from vagrant"  # worker1 stopped
    containers["id-worker1"] = containers["id-worker3"] = ("true", ports)
    (dotfile / "machines" / "worker3" / "docker" / "private_key").unlink()
    assert docker.PROVIDER.ssh_config(config, Vagrant()) == "from vagrant"  # no key for worker3
    (dotfile / "machines" / "worker3" / "docker" / "private_key").write_text("key")
    settings = docker.nodes.parse_ssh_config(docker.PROVIDER.ssh_config(config, Vagrant()))
    assert settings["worker2"].port == 2201 and settings["manager"].port == 2200
    assert settings["worker3"].identity == str(dotfile / "machines" / "worker3" / "docker" / "private_key")


def test_docker_nodes_log_in_with_the_key_vagrant_inserted_else_the_labs_own(tmp_path, monkeypatch):
    """Nodes made before the lab had its own key keep the one Vagrant put in
    their machine folder; nodes made since use the lab's key (the Vagrantfile
    lists them in the same order), which paramiko can load."""
    import paramiko

    config = lab("docker")
    dotfile = tmp_path / ".vagrant"
    monkeypatch.setattr(docker.nodes, "own_dir", lambda c: tmp_path / "labs" / c.name)
    assert docker.login_key(config, dotfile, "manager") is None
    key = docker.ensure_node_key(config)
    assert key == tmp_path / "labs" / config.name / "node_key"
    assert key.stat().st_mode & 0o777 == 0o600
    public = key.with_name("node_key.pub").read_text().split()
    assert paramiko.ECDSAKey.from_private_key_file(str(key)).get_base64() == public[1]
    before = key.read_bytes()
    assert docker.ensure_node_key(config) == key and key.read_bytes() == before  # made once
    assert docker.login_key(config, dotfile, "manager") == key
    inserted = dotfile / "machines" / "manager" / "docker" / "private_key"
    inserted.parent.mkdir(parents=True)
    inserted.write_text("key")
    assert docker.login_key(config, dotfile, "manager") == inserted
    assert docker.login_key(config, dotfile, "worker1") == key


def test_docker_lab_down_stops_every_running_node_at_once_with_time_to_shut_down(monkeypatch):
    """One `docker stop` for all running nodes (Vagrant halts them one after
    another), with time to shut down (Vagrant's 1 s killed the nodes' engines
    while the backend was stopping)."""
    config = lab("docker")
    monkeypatch.setattr(docker, "inspect_machines", lambda c: {
        "manager": ("running", 2200), "worker1": ("stopped", None), "worker2": ("running", 2201),
        "worker3": ("running", 2202)})
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return type("Done", (), {"stdout": "\n".join(argv[4:]), "stderr": "", "returncode": 0})()
    monkeypatch.setattr(docker.subprocess, "run", run)
    shown = []
    log = type("Run", (), {"show_command": lambda self, node, c: shown.append(c), "log": lambda self, t: None})()
    assert docker.PROVIDER.halt(config, log) == ["manager", "worker2", "worker3"]
    assert calls == [["docker", "stop", "--time", "30", f"{config.name}-manager", f"{config.name}-worker2",
                      f"{config.name}-worker3"]]
    assert shown == ["vagrant halt"]
    monkeypatch.setattr(docker, "inspect_machines", lambda c: {"manager": ("stopped", None)})
    calls.clear()
    assert docker.PROVIDER.halt(config, log) == [] and calls == []
