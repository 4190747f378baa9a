"""lab.yaml validation: every bad value is named with what is allowed."""
import copy
import socket
from pathlib import Path

import pytest
import yaml

from lab import config as cfg
from lab import host
from lab.runlog import LabError

ROOT = Path(__file__).resolve().parents[2]
GOOD = yaml.safe_load((ROOT / "lab.yaml").read_text())


def parse(data):
    return cfg.parse(data, ROOT / "lab.yaml")


def with_change(**changes):
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return data


def with_node(i, **changes):
    data = copy.deepcopy(GOOD)
    data["nodes"][i].update(changes)
    return data


def test_the_shipped_lab_yaml_is_valid():
    lab = cfg.load(ROOT / "lab.yaml")
    assert [n.name for n in lab.nodes] == ["manager", "worker1", "worker2", "worker3"]
    assert lab.manager.address == "192.168.56.10"
    assert lab.registry == "192.168.56.10:4000"
    assert lab.export_path == "/etc/db-data"
    assert lab.stack_name == "musicapp" and lab.app_name == "Music"
    assert len(lab.workers) == 3


@pytest.mark.parametrize("data, key, words", [
    (with_node(1, name="manager", role="worker"), "nodes[1].name", "used twice"),
    (with_node(2, address="192.168.56.11"), "nodes[2].address", "already worker1's"),
    (with_node(1, address="10.0.0.5"), "nodes[1].address", "outside the network"),
    (with_node(1, address="192.168.56.0"), "nodes[1].address", "network's own address"),
    (with_node(1, address="192.168.56.255"), "nodes[1].address", "broadcast"),
    (with_node(1, address="192.168.56.1"), "nodes[1].address", "gateway"),
    (with_node(1, address="not-an-ip"), "nodes[1].address", "IPv4 address"),
    (with_node(1, role="manager"), "nodes", "exactly one"),
    (with_node(0, role="worker"), "nodes", "exactly one"),
    (with_change(nodes=[GOOD["nodes"][0]]), "nodes", "no worker"),
    (with_node(1, role="boss"), "nodes[1].role", "manager, worker"),
    (with_node(1, memory="lots"), "nodes[1].memory", "whole number"),
    (with_node(1, cpus=0), "nodes[1].cpus", "from 1 to 64"),
    (with_node(1, Name="x"), "nodes[1].Name", "unknown key"),
    (with_change(registry_port=70000), "registry_port", "from 1 to 65535"),
    (with_change(registry_port=True), "registry_port", "whole number"),
    (with_change(provider="vmware"), "provider", "auto, virtualbox, libvirt, docker"),
    (with_change(network="192.168.56.0/33"), "network", "CIDR"),
    (with_change(network="8.8.8.0/24"), "network", "private"),
    (with_change(export_path="etc/db-data"), "export_path", "absolute path"),
    (with_change(registry_port=2377), "registry_port", "cluster management"),
    (with_change(app_name="Music\nAPI_ENDPOINT=http://elsewhere/"), "app_name", "printable characters on one line"),
    (with_change(app_name=" Music"), "app_name", "without spaces at either end"),
    (with_change(stack_name="musicapp\n"), "stack_name", "lower-case"),
    (with_node(1, name="worker1\n"), "nodes[1].name", "lower-case"),
    (with_change(stack_name="Music App"), "stack_name", "lower-case"),
    (with_change(app_name=""), "app_name", "non-empty"),
    (with_change(host_ports={"web": 8000, "api": 8000}), "host_ports.api", "two different ports"),
    (with_change(host_ports={"web": 80, "api": 8001}), "host_ports.web", "from 1024 to 65535"),
    (with_change(host_ports={"web": 8000}), "host_ports.api", "missing"),
])
def test_bad_values_name_key_value_and_what_is_allowed(data, key, words):
    with pytest.raises(cfg.ConfigError) as err:
        parse(data)
    message = str(err.value)
    assert message.startswith(key + ":"), message
    assert words in message


def test_a_typo_in_a_top_level_key_is_an_error_not_ignored():
    data = copy.deepcopy(GOOD)
    data["nodse"] = data.pop("nodes")
    with pytest.raises(cfg.ConfigError, match=r"^nodse: unknown key; allowed: provider, name, network, nodes"):
        parse(data)


def test_a_missing_key_is_named():
    data = copy.deepcopy(GOOD)
    del data["registry_port"]
    with pytest.raises(cfg.ConfigError, match="^registry_port: missing"):
        parse(data)


def test_a_missing_file_and_broken_yaml_are_clear(tmp_path):
    with pytest.raises(cfg.ConfigError, match="file not found"):
        cfg.load(tmp_path / "lab.yaml")
    (tmp_path / "lab.yaml").write_text("nodes: [\n")
    with pytest.raises(cfg.ConfigError, match="not valid YAML"):
        cfg.load(tmp_path / "lab.yaml")


def test_a_host_port_in_use_is_refused_naming_the_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        api = port + 1 if port < 65535 else port - 1
        lab = parse(with_change(host_ports={"web": port, "api": api}))
        with pytest.raises(LabError, match=f"host_ports.web: 127.0.0.1:{port} is already in use"):
            host.check_host_ports(lab, owned={api})
        # A port held by the lab's own manager is not a conflict.
        host.check_host_ports(lab, owned={port, api})


def test_invalid_config_exits_non_zero_and_changes_nothing(tmp_path):
    import subprocess
    import sys
    bad = copy.deepcopy(GOOD)
    bad["nodse"] = bad.pop("nodes")
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = subprocess.run([sys.executable, "-m", "invoke", "lab.up", "--config", str(path)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "nodse: unknown key" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.yaml"]


SHELL_TRICKS = ["/etc/db-data;reboot", "/etc/$(reboot)", "/etc/`reboot`", "/etc/db'data", "/etc/../root",
                "/etc/db-data/..", "/etc/./db-data", "/etc/db-data\n", "/etc/db\ndata", "/", "//etc",
                "/etc/db data", "/etc/db-data/", "/etc/db-data:/x", "/etc/*", 42]


@pytest.mark.parametrize("value", SHELL_TRICKS)
def test_export_path_refuses_what_a_shell_would_read_as_code(value):
    with pytest.raises(cfg.ConfigError) as err:
        parse(with_change(export_path=value))
    message = str(err.value)
    assert message.startswith(f"export_path: {value!r} is not allowed"), message
    assert "letters, digits, '.', '_' and '-'" in message and "no '.' or '..' component" in message


@pytest.mark.parametrize("value", ["/etc", "/var/lib/docker", "/proc/x", "/sys", "/dev/shm"])
def test_export_path_is_not_a_system_directory_of_the_nodes(value):
    with pytest.raises(cfg.ConfigError, match=f"^export_path: '{value}' is not allowed: it is a system directory"):
        parse(with_change(export_path=value))


@pytest.mark.parametrize("value", ["/etc/db-data", "/srv/lab_data.v2", "/data"])
def test_plain_export_paths_are_kept_as_given(value):
    assert parse(with_change(export_path=value)).export_path == value


@pytest.mark.parametrize("port, why", [(80, "web frontend"), (8080, "API"), (2377, "2377/tcp"),
                                       (7946, "7946/tcp+udp"), (4789, "4789/udp")])
def test_registry_port_refuses_the_ports_the_swarm_and_the_app_use(port, why):
    with pytest.raises(cfg.ConfigError) as err:
        parse(with_change(registry_port=port))
    message = str(err.value)
    assert message.startswith(f"registry_port: {port} is not allowed: ") and why in message
    assert "not 80, 8080, 2377, 7946, 4789" in message


def test_app_name_may_hold_html_and_shell_characters():
    # They are escaped where they go (the .env, the pages): no reason to refuse them.
    assert parse(with_change(app_name="Rock & Roll <\"Live\"> 'n' $(x)")).app_name == "Rock & Roll <\"Live\"> 'n' $(x)"


def test_the_dashboard_port_is_optional_checked_and_its_own():
    assert parse(GOOD).host_ports.dashboard == 8002
    without = copy.deepcopy(GOOD)
    del without["host_ports"]["dashboard"]
    assert parse(without).host_ports.dashboard == cfg.DEFAULT_DASHBOARD_PORT
    for bad, words in ((80, "host_ports.dashboard: 80 is not allowed"),
                       ("x", "host_ports.dashboard: 'x' is not allowed"),
                       (GOOD["host_ports"]["web"], "is also host_ports.web")):
        data = copy.deepcopy(GOOD)
        data["host_ports"]["dashboard"] = bad
        with pytest.raises(cfg.ConfigError, match=words):
            parse(data)
    data = copy.deepcopy(GOOD)
    data["host_ports"]["dashbord"] = 8002
    with pytest.raises(cfg.ConfigError, match="host_ports.dashbord: unknown key; allowed: web, api, dashboard"):
        parse(data)
