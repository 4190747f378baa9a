"""lab.up tries `vagrant up` again only when another lab's `vagrant destroy`
removed the network between Vagrant's listing and its inspect."""
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
