"""Last: destroy, then ask Docker and Vagrant (not the lab) what is left."""
import subprocess

import pytest

from .conftest import ROOT, invoke

pytestmark = pytest.mark.slow


def test_destroy_leaves_no_container_network_volume_or_machine(config, lab_up):
    invoke("lab.destroy")
    names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True,
                           text=True).stdout.split()
    assert not [n for n in names if n.startswith(f"{config.name}-")]
    volumes = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True).stdout.split()
    assert not [v for v in volumes if v.startswith(f"{config.name}-")]
    networks = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True,
                              text=True).stdout.split()
    assert f"vagrant_network_{config.network}" not in networks
    status = subprocess.run(["vagrant", "status", "--machine-readable"], cwd=ROOT, capture_output=True,
                            text=True).stdout
    states = [l.split(",")[3] for l in status.splitlines() if ",state," in l]
    assert states and all(s == "not_created" for s in states), states


def test_destroy_when_nothing_is_up_says_so_and_exits_0():
    result = invoke("lab.destroy")
    assert "nothing was up" in result.stdout
