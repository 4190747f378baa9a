"""The lab's own known_hosts (lab/hostkeys.py): first key pinned, another refused,
forgotten per address or all; real keys and a real file."""
import paramiko
import pytest

from lab import hostkeys


@pytest.fixture(scope="module")
def keys():
    return paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()


def test_the_first_key_is_recorded_and_the_same_key_again_is_accepted(tmp_path, keys):
    path = tmp_path / "labs" / "x" / "known_hosts"
    a, _ = keys
    assert hostkeys.pin(path, "[127.0.0.1]:2201", a) is None
    assert hostkeys.pin(path, "[127.0.0.1]:2201", a) is None
    assert path.read_text().count("\n") == 1
    assert path.stat().st_mode & 0o777 == 0o600
    # OpenSSH's format: paramiko (and ssh -o UserKnownHostsFile) read it back.
    assert paramiko.HostKeys(str(path)).lookup("[127.0.0.1]:2201")[a.get_name()] == a


def test_another_key_at_a_recorded_address_is_refused_and_not_written(tmp_path, keys):
    path = tmp_path / "known_hosts"
    a, b = keys
    hostkeys.pin(path, "[127.0.0.1]:2201", a)
    assert hostkeys.pin(path, "[127.0.0.1]:2201", b) == a
    assert b.get_base64() not in path.read_text()
    # Another address is another node: its own first key.
    assert hostkeys.pin(path, "[127.0.0.1]:2202", b) is None


def test_the_policy_raises_paramikos_bad_host_key_error(tmp_path, keys):
    path = tmp_path / "known_hosts"
    a, b = keys
    client = paramiko.SSHClient()
    policy = hostkeys.PinFirstSeen(path)
    policy.missing_host_key(client, "[127.0.0.1]:2201", a)
    assert client.get_host_keys().lookup("[127.0.0.1]:2201")
    with pytest.raises(paramiko.BadHostKeyException):
        policy.missing_host_key(paramiko.SSHClient(), "[127.0.0.1]:2201", b)
    error = hostkeys.mismatch("manager", path, paramiko.BadHostKeyException("[127.0.0.1]:2201", b, a))
    assert "manager" in str(error) and str(path) in error.hint


def test_forget_drops_the_named_addresses_or_all(tmp_path, keys):
    path = tmp_path / "known_hosts"
    a, b = keys
    hostkeys.pin(path, "[127.0.0.1]:2201", a)
    hostkeys.pin(path, "[127.0.0.1]:2202", b)
    hostkeys.forget(path, ["[127.0.0.1]:2201"])
    assert hostkeys.pin(path, "[127.0.0.1]:2201", b) is None  # met anew
    assert hostkeys.pin(path, "[127.0.0.1]:2202", a) == b     # still pinned
    hostkeys.forget(path)
    assert path.read_text() == ""
    hostkeys.forget(tmp_path / "absent")  # nothing recorded: nothing to do


def test_openssh_is_pointed_at_the_labs_file_only(tmp_path):
    options = hostkeys.openssh_options(tmp_path / "known_hosts")
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in options
    assert "StrictHostKeyChecking=accept-new" in options
    assert "StrictHostKeyChecking=no" not in options
