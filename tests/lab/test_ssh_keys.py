"""The well-known Vagrant key must not open a node, and the lab knows each
node by its own host key (issue 15).

On the docker provider the node image authorizes no key: each node
authorizes the lab's own key (given to it when it is made) and Vagrant logs
in with that one, so it never swaps keys. VMs boot a box with Vagrant's
insecure public key, which Vagrant's insert_key replaces. This tries the
insecure private key (and the vagrant/vagrant password) on every node's
forwarded SSH port and requires refusal; the lab's own key is the control
that the same connection otherwise works."""
import glob
import os

import paramiko
import pytest

from lab import hostkeys, images, nodes, providers
from lab.providers import docker as docker_provider
from tests.lab.conftest import invoke, on

pytestmark = pytest.mark.slow
CANDIDATES = ["/usr/share/vagrant/keys/vagrant",
              "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant",
              "/usr/lib/ruby/vendor_ruby/vagrant/keys/vagrant",
              os.path.expanduser("~/.vagrant.d/insecure_private_key")]


def insecure_key():
    """Vagrant's insecure private key, proven to be the half of the public
    key the node image ships."""
    shipped = images.vagrant_public_key().read_text().split()[1]
    for pattern in CANDIDATES:
        for path in sorted(glob.glob(pattern)):
            key = paramiko.RSAKey.from_private_key_file(path)
            if key.get_base64() == shipped:
                return key
    raise AssertionError(f"Vagrant's insecure key is in none of {CANDIDATES}")


def public_half(path):
    try:
        return paramiko.RSAKey.from_private_key_file(path).get_base64()
    except paramiko.SSHException:
        return None  # another key type: not the (RSA) insecure key


def login(settings, user, **auth):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(settings.hostname, settings.port, username=user, timeout=15, banner_timeout=15,
                       auth_timeout=15, look_for_keys=False, allow_agent=False, **auth)
        _, out, _ = client.exec_command("id -un", timeout=15)
        return out.read().decode().strip()
    finally:
        client.close()


def test_the_insecure_key_and_password_open_no_node_and_the_labs_key_does(lab_up, config):
    settings = nodes.parse_ssh_config(nodes.ssh_config_path(config).read_text())
    assert set(settings) == {n.name for n in config.nodes}, settings
    key = insecure_key()
    for name, s in settings.items():
        assert s.hostname == "127.0.0.1" or s.hostname.startswith(str(config.network.network_address)[:-1]), s
        assert public_half(s.identity) != key.get_base64(), f"{name}: the lab logs in with the insecure key"
        assert login(s, s.user, key_filename=s.identity) == s.user, name
        for user in (s.user, "root"):
            with pytest.raises(paramiko.AuthenticationException):
                login(s, user, pkey=key)
            with pytest.raises(paramiko.AuthenticationException):
                login(s, user, password="vagrant")


def test_docker_nodes_authorize_only_the_labs_own_key_and_vagrant_inserted_none(cluster, config):
    """Vagrant was given the lab's key, so it had no key of its own to insert
    (a swap would leave its key beside the lab's, and its private half in its
    machine folder)."""
    if providers.recorded(config).get("provider") != "docker":
        pytest.skip("the lab's own node key is the docker provider's")
    key = docker_provider.node_key_path(config)
    public = key.with_name(key.name + ".pub").read_text().split()[:2]
    settings = nodes.parse_ssh_config(nodes.ssh_config_path(config).read_text())
    dotfile = nodes.vagrant_dotfile(config)
    for node in config.nodes:
        authorized = [line.split()[:2] for line in
                      on(cluster, node.name, "cat /home/vagrant/.ssh/authorized_keys").splitlines() if line.strip()]
        assert authorized == [public], f"{node.name}: {authorized}"
        assert settings[node.name].identity == str(key), settings[node.name]
        assert not (dotfile / "machines" / node.name / "docker" / "private_key").exists(), node.name


def served_key(s):
    """The host key the node's sshd serves now, read over the wire."""
    transport = paramiko.Transport((s.hostname, s.port))
    try:
        transport.start_client(timeout=15)
        return transport.get_remote_server_key()
    finally:
        transport.close()


def test_the_lab_has_recorded_each_nodes_own_host_key(lab_up, config):
    assert invoke("lab.check").returncode == 0  # the lab has met every node
    path = nodes.known_hosts(config)
    assert path.stat().st_mode & 0o777 == 0o600
    known = paramiko.HostKeys(str(path))
    settings = nodes.parse_ssh_config(nodes.ssh_config_path(config).read_text())
    served = {}
    for name, s in settings.items():
        key = served_key(s)
        recorded = known.lookup(hostkeys.entry_name(s.hostname, s.port))
        assert recorded is not None, f"{name}: no host key recorded in {path}"
        assert recorded.get(key.get_name()) == key, f"{name}: the recorded key is not the one its sshd serves"
        served[name] = key.get_base64()
    # Keys are made on each node's first boot, not baked into the image.
    assert len(set(served.values())) == len(settings), served


def test_a_node_answering_with_another_host_key_is_refused_by_name(lab_up, config):
    """As if another machine took the manager's address: the record holds a key
    the manager does not have; the lab must stop and name it, not log in."""
    path = nodes.known_hosts(config)
    saved = path.read_text()
    s = nodes.parse_ssh_config(nodes.ssh_config_path(config).read_text())[config.manager.name]
    name = hostkeys.entry_name(s.hostname, s.port)
    impostor = paramiko.ECDSAKey.generate()
    lines = [line for line in saved.splitlines() if line.split(" ", 1)[0] != name]
    path.write_text("".join(f"{line}\n" for line in lines) + f"{name} {impostor.get_name()} {impostor.get_base64()}\n")
    try:
        result = invoke("lab.check", check=False)
        out = result.stdout + result.stderr
        assert result.returncode == 1, out
        assert f"{config.manager.name} answered with another SSH host key" in out, out
        assert str(path) in out, out
        # The record was not overwritten with what the manager offered.
        assert impostor.get_base64() in path.read_text()
    finally:
        path.write_text(saved)
    assert invoke("lab.check").returncode == 0
