"""Four real nodes, reached over SSH as Vagrant left them."""
import pytest

from lab import nodes, providers

from .conftest import on

pytestmark = pytest.mark.slow


def test_every_node_answers_ssh_as_vagrant_and_runs_systemd(cluster, config):
    for node in config.nodes:
        r = cluster[node.name].run("id -un; hostname; systemctl is-system-running", hide=True, warn=True)
        user, hostname, state = r.stdout.split()
        assert (user, hostname) == ("vagrant", node.name)
        # "degraded" would mean a unit failed; the node image masks what cannot run.
        assert state == "running", on(cluster, node.name, "systemctl --failed --no-legend")


def test_each_node_has_its_lab_address_on_its_private_interface(cluster, config):
    for node in config.nodes:
        addrs = on(cluster, node.name, "ip -4 -o addr show")
        line = next(l for l in addrs.splitlines() if f" {node.address}/" in l)
        assert f"{node.address}/{config.network.prefixlen}" in line
        assert " lo " not in line


def test_each_node_reaches_the_other_three_on_the_lab_network(cluster, config):
    for node in config.nodes:
        for other in config.nodes:
            if other is not node:
                on(cluster, node.name, f"ping -c1 -W2 {other.address}")


def test_each_node_has_its_own_machine_id(cluster, config):
    ids = {on(cluster, n.name, "cat /etc/machine-id") for n in config.nodes}
    assert len(ids) == len(config.nodes)


def test_each_node_has_ssh_host_keys_of_its_own(cluster, config):
    """Each node's sshd answers with an Ed25519 key nobody else has. The
    docker provider's node image makes Ed25519 and ECDSA keys at first boot,
    not the costly RSA one; a VM or server keeps whatever keys it has."""
    keys = {n.name: on(cluster, n.name, "ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null").split()[-1]
            for n in config.nodes}
    assert len(set(keys.values())) == len(config.nodes), keys
    if providers.recorded(config).get("provider") == "docker":
        for n in config.nodes:
            assert on(cluster, n.name, "ls /etc/ssh/ | grep '^ssh_host_.*_key$' | sort").split() == \
                ["ssh_host_ecdsa_key", "ssh_host_ed25519_key"]


def test_the_docker_provider_answers_as_vagrant_does(cluster, config):
    """lab.up reads the machines' states and SSH settings from Docker and
    Vagrant's machine folders instead of starting Vagrant twice: the same
    answers as `vagrant status` and `vagrant ssh-config`."""
    if providers.recorded(config).get("provider") != "docker":
        pytest.skip("the docker provider's shortcut")
    vg, docker_provider = nodes.Vagrant(config), providers.get("docker")
    assert [(m.name, m.state) for m in docker_provider.machine_states(config, vg)] == \
        [(m.name, m.state) for m in vg.status()] == [(n.name, "running") for n in config.nodes]
    assert docker_provider.ssh_config(config, vg) == vg.ssh_config()
