"""Provider choice, mirror and ssh-config parsing: logic only, no Docker."""
from pathlib import Path

import pytest
import yaml

from lab import config as cfg
from lab import host, nodes
from lab.runlog import LabError

ROOT = Path(__file__).resolve().parents[2]


def lab(provider="auto"):
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    data["provider"] = provider
    return cfg.parse(data, ROOT / "lab.yaml")


def test_mirror_is_read_from_deb822_and_one_line_sources():
    deb822 = ("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
              "Suites: bookworm-security\n")
    assert host.parse_mirror(deb822) == "http://mirror.example/debian"
    assert host.parse_mirror("deb [arch=amd64] http://m.example/debian/ bookworm main\n") == "http://m.example/debian"
    assert host.parse_mirror("deb http://m.example/debian bullseye main\n") is None


SSH_CONFIG = """Host manager
  HostName 127.0.0.1
  User vagrant
  Port 2200
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  IdentityFile /lab/.vagrant/machines/manager/docker/private_key
  IdentitiesOnly yes

Host worker1
  HostName 192.168.121.7
  User vagrant
  Port 22
  IdentityFile "/lab/.vagrant/machines/worker1/libvirt/private_key"
"""


def test_ssh_config_of_all_nodes_parses_into_settings():
    parsed = nodes.parse_ssh_config(SSH_CONFIG)
    assert set(parsed) == {"manager", "worker1"}
    m = parsed["manager"]
    assert (m.hostname, m.port, m.user) == ("127.0.0.1", 2200, "vagrant")
    assert m.identity.endswith("manager/docker/private_key")
    assert parsed["worker1"].port == 22 and parsed["worker1"].hostname == "192.168.121.7"


def test_teaching_mode_prints_each_command_with_its_node(tmp_path):
    import io

    from rich.console import Console

    from lab.runlog import Run
    out = io.StringIO()
    run = Run(tmp_path, "up", explain=True, console=Console(file=out, width=200))
    run.show_command("manager", "docker swarm init --advertise-addr 192.168.56.10")
    quiet = io.StringIO()
    Run(tmp_path, "up", explain=False, console=Console(file=quiet, width=200)).show_command("manager", "true")
    assert "manager$ docker swarm init --advertise-addr 192.168.56.10" in out.getvalue()
    assert quiet.getvalue() == ""
    assert "[manager]$ docker swarm init" in (run.dir / "run.log").read_text()


def test_vms_that_do_not_fit_in_the_hosts_memory_are_refused_with_the_numbers():
    lab = cfg.load(ROOT / "lab.libvirt.yaml")
    names = [n.name for n in lab.nodes]
    # 4 x (1536 + 1024) emulated
    host.check_vm_memory(lab, names, emulated=True, available=10240)
    with pytest.raises(LabError) as err:
        host.check_vm_memory(lab, names, emulated=True, available=10239)
    text = str(err.value)
    assert "need 10240 MiB" in text and "manager 1536 + worker1 1536" in text and "10239 MiB available" in text
    assert "nodes[].memory in lab.libvirt.yaml" in err.value.hint
    # Under KVM the same VMs cost less; running ones are not counted again.
    host.check_vm_memory(lab, names, emulated=False, available=6144)
    with pytest.raises(LabError):
        host.check_vm_memory(lab, names, emulated=False, available=6143)
    host.check_vm_memory(lab, ["worker3"], emulated=True, available=2560)


def test_mem_available_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    8388608 kB\n")
    assert host.mem_available_mib(meminfo) == 8192


def test_vagrant_plugins_are_read_from_vagrants_own_records(tmp_path, monkeypatch):
    """The user's plugins.json, the system's plugins.d: no Ruby run for them;
    `vagrant plugin list` only when no record names the plugin."""
    user, system = tmp_path / "home", tmp_path / "system"
    (user).mkdir()
    (system / "plugins.d").mkdir(parents=True)
    (user / "plugins.json").write_text('{"version": "1", "installed": {"vagrant-mine": {"gem_version": ""}}}')
    (system / "plugins.json").write_text('{"version": "1", "installed": {}}')
    (system / "plugins.d" / "vagrant-libvirt.json").write_text('{"vagrant-libvirt": {"gem_version": ""}}')
    (system / "plugins.d" / "broken.json").write_text("{not json")
    monkeypatch.setenv("VAGRANT_HOME", str(user))
    monkeypatch.setattr(host, "SYSTEM_PLUGIN_DIRS", (system,))
    monkeypatch.setattr(host.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    listed = []

    def vagrant_plugin_list(args, **kwargs):
        listed.append(args)
        return type("Done", (), {"stdout": "vagrant-listed (1.0, global)\n"})()
    monkeypatch.setattr(host.subprocess, "run", vagrant_plugin_list)
    assert host.plugin_installed("vagrant-libvirt") and host.plugin_installed("vagrant-mine")
    assert listed == []
    assert host.plugin_installed("vagrant-listed") and not host.plugin_installed("vagrant-absent")
    assert listed == [["vagrant", "plugin", "list"]] * 2
