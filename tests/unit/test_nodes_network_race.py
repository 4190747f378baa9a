"""How lab.up reads a failed `vagrant up`: it tries again only when another
lab's `vagrant destroy` removed the network between Vagrant's listing and its
inspect, and it names the node that timed out, wherever its error is printed."""
from types import SimpleNamespace

from lab import nodes

RACE = ('Command: ["docker", "network", "inspect", "bridge", "vagrant_network_192.168.56.0/24"]\n'
        "Stderr: Error response from daemon: network vagrant_network_192.168.56.0/24 not found\n")


def run_with_log(tmp_path, text):
    log = tmp_path / "run.log"
    log.write_text(text)
    return SimpleNamespace(log_path=log)


def test_the_race_after_the_start_of_this_attempt_is_seen(tmp_path):
    earlier = "step image: node: ok\n"
    run = run_with_log(tmp_path, earlier + RACE)
    assert nodes._lost_network_race(run, len(earlier))


def test_a_race_logged_before_this_attempt_does_not_count(tmp_path):
    run = run_with_log(tmp_path, RACE + "==> worker1: Timed out while waiting for the machine to boot\n")
    assert not nodes._lost_network_race(run, len(RACE))


def test_other_vagrant_failures_are_not_retried(tmp_path):
    run = run_with_log(tmp_path, "Stderr: Error response from daemon: Conflict. The container name is already in use\n")
    assert not nodes._lost_network_race(run, 0)


# What `vagrant up` printed when sshtest-manager's sshd never started
# (2026-12-01): the manager timed out and was removed, and worker1, slower,
# failed on `docker inspect` of it; worker1's block comes last.
TWO_BLOCKS = """==> manager: Waiting for machine to boot. This may take a few minutes...
==> manager: An error occurred. The error will be shown after all tasks complete.
An error occurred while executing multiple actions in parallel.
Any errors that occurred are shown below.

An error occurred while executing the action on the 'manager'
machine. Please handle this error then try again:

Timed out while waiting for the machine to boot. This means that
Vagrant was unable to communicate with the guest machine within
the configured ("config.vm.boot_timeout" value) time period.
""" + "\n" * 20 + """
An error occurred while executing the action on the 'worker1'
machine. Please handle this error then try again:

A Docker command executed by Vagrant didn't complete successfully!
Command: ["docker", "inspect", "12b73496a28fa0a43ad3439e120b87c61549c99350f3c4f32cb211e162348838"]
Stderr: Error: No such object: 12b73496a28fa0a43ad3439e120b87c61549c99350f3c4f32cb211e162348838
"""


class FakeVagrant:
    def status(self):
        return [SimpleNamespace(name="manager", state="not_created"), SimpleNamespace(name="worker1", state="not_created")]

    def ssh_config(self):
        return "Host manager\n  HostName 127.0.0.1\n  Port 2203"


def test_the_node_that_timed_out_is_named_when_another_nodes_error_comes_last(tmp_path):
    config = SimpleNamespace(nodes=[SimpleNamespace(name="manager"), SimpleNamespace(name="worker1")])
    provider = SimpleNamespace(console_hint=lambda config, node: f"docker logs sshtest-{node}")
    error = nodes._up_failure(config, provider, FakeVagrant(), run_with_log(tmp_path, TWO_BLOCKS), "vagrant up")
    assert str(error) == "node manager did not answer SSH within the boot timeout"
    assert error.node == "manager" and "docker logs sshtest-manager" in error.hint and "Port 2203" in error.output


LOCKED = """[host]$ vagrant destroy -f
Vagrant can't use the requested machine because it is locked! This
means that another Vagrant process is currently reading or modifying
the machine. Please wait for that Vagrant process to end and try
again. Details about the machine are shown below:

Name: worker1
Provider: docker
"""


def test_a_machine_locked_by_another_vagrant_says_wait_and_names_it(tmp_path):
    config = SimpleNamespace(nodes=[SimpleNamespace(name="manager"), SimpleNamespace(name="worker1")])
    provider = SimpleNamespace(console_hint=lambda config, node: "")
    error = nodes._up_failure(config, provider, FakeVagrant(), run_with_log(tmp_path, LOCKED), "vagrant up")
    assert "another Vagrant command is using machine worker1" in str(error) and error.node == "worker1"
    assert "wait for it to end" in error.hint
    assert nodes.vagrant_busy("Timed out while waiting for the machine to boot") is None
