"""Node containers that carry a lab's name but that this folder's Vagrant did
not make: another clone's lab (left alone, named), or nodes no folder knows any
more (removed, with their engine volumes). Real containers, read back with docker."""
import subprocess
import uuid

import docker
import pytest

from lab import images
from tests.lab.conftest import ROOT, invoke

pytestmark = pytest.mark.slow

NAME = "straylab"
LAB_FILE = ROOT / "lab.scratch-stray.yaml"
NETWORK = "vagrant_network_192.168.71.0/24"


@pytest.fixture
def stray_lab(request):
    """A second lab file in this folder (its own name, network and ports); its
    state and any container left with its name go afterwards."""
    client = docker.from_env()
    try:
        client.images.get(images.BASE_IMAGE)
    except docker.errors.ImageNotFound:
        request.getfixturevalue("lab_up")  # builds the lab's Debian base
    text = (ROOT / "lab.yaml").read_text()
    text = (text.replace("name: swarmlab", f"name: {NAME}").replace("192.168.56.", "192.168.71.")
            .replace("web: 8000", "web: 8070").replace("api: 8001", "api: 8071")
            .replace("dashboard: 8002", "dashboard: 8072"))
    LAB_FILE.write_text(text)
    yield client
    for c in client.containers.list(all=True, filters={"label": f"lab={NAME}"}):
        c.remove(force=True)
    for v in client.volumes.list(filters={"name": NAME}):
        v.remove(force=True)
    for n in client.networks.list(names=[NETWORK]):
        n.remove()
    subprocess.run(["rm", "-rf", str(ROOT / ".lab" / "labs" / NAME), str(ROOT / f".vagrant-{NAME}"),
                    str(ROOT / ".lab" / "runs" / f"latest-{NAME}")], check=True)
    LAB_FILE.unlink(missing_ok=True)


def make_node(client, node, home):
    """A container named and labelled as a node of the stray lab, with its engine volume."""
    return client.containers.create(
        images.BASE_IMAGE, "true", name=f"{NAME}-{node}",
        labels={"lab": NAME, "lab.node": node, "lab.home": str(home)},
        volumes={f"{NAME}-{node}-docker": {"bind": "/var/lib/docker", "mode": "rw"}})


def names(client):
    return sorted(c.name for c in client.containers.list(all=True, filters={"label": f"lab={NAME}"}))


def test_nodes_no_folder_knows_are_removed_with_their_volumes(stray_lab, tmp_path):
    client = stray_lab
    for node in ("manager", "worker1"):
        make_node(client, node, tmp_path / f"gone-{uuid.uuid4().hex}")
    assert names(client) == [f"{NAME}-manager", f"{NAME}-worker1"]

    result = invoke("lab.destroy", "--config", str(LAB_FILE))
    assert f"container {NAME}-manager" in result.stdout, result.stdout
    assert names(client) == []
    assert [v.name for v in client.volumes.list(filters={"name": f"{NAME}-"})] == []


def test_nodes_of_another_folders_lab_are_named_and_left_alone(stray_lab, tmp_path):
    client = stray_lab
    other = tmp_path / "other-clone"
    node = make_node(client, "manager", other)
    # On the lab's network, as a node of a running lab is.
    client.networks.create(NETWORK, ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="192.168.71.0/24")])).connect(node)
    # That folder's Vagrant knows the container: it is that lab's node.
    idfile = other / f".vagrant-{NAME}" / "machines" / "manager" / "docker" / "id"
    idfile.parent.mkdir(parents=True)
    idfile.write_text(node.id)

    up = invoke("lab.up", "--config", str(LAB_FILE), check=False)
    assert up.returncode == 1, up.stdout + up.stderr
    assert f"taken by the lab in {other}" in up.stdout + up.stderr
    assert f"cd {other} &&" in up.stdout + up.stderr

    destroy = invoke("lab.destroy", "--config", str(LAB_FILE))
    assert f"belong to the lab in {other}" in destroy.stdout
    # Nothing of that lab was touched: its node and its engine volume are there.
    assert names(client) == [f"{NAME}-manager"]
    assert client.containers.get(f"{NAME}-manager").id == node.id
    assert client.volumes.get(f"{NAME}-manager-docker")
    assert [n.name for n in client.networks.list(names=[NETWORK])] == [NETWORK]
