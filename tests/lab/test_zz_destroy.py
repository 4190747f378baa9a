"""Last: destroy, then ask Docker and Vagrant (not the lab) what is left."""
import pytest

from lab import nodes
from tests.nodeshell import listing

from .conftest import ROOT, invoke

pytestmark = pytest.mark.slow


def test_destroy_leaves_no_container_network_volume_or_machine(config, lab_up):
    # One worker removed by hand first, as a trainee may: Vagrant looks a
    # machine it has not created up with its default provider (libvirt, when
    # its plugin is installed, even with no libvirtd): lab.destroy still
    # removes everything else.
    by_hand = nodes.Vagrant(config).command("destroy", "-f", config.workers[-1].name)
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    invoke("lab.destroy")
    names = listing("docker", "ps", "-a", "--format", "{{.Names}}")
    assert not [n for n in names if n.startswith(f"{config.name}-")]
    volumes = listing("docker", "volume", "ls", "-q")
    assert not [v for v in volumes if v.startswith(f"{config.name}-")]
    networks = listing("docker", "network", "ls", "--format", "{{.Name}}")
    assert "bridge" in networks  # the listing itself worked
    assert f"vagrant_network_{config.network}" not in networks
    status = listing("vagrant", "status", "--machine-readable", cwd=ROOT)
    states = [l.split(",")[3] for l in status if ",state," in l]
    assert states and all(s == "not_created" for s in states), states


def test_destroy_when_nothing_is_up_says_so_and_exits_0():
    result = invoke("lab.destroy")
    assert "nothing was up" in result.stdout
