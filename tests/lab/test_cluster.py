"""Tutorial steps 1, 5 and 6, read back from the nodes themselves."""
import ipaddress
import json
import time

import pytest

from lab.probe import Capabilities
from lab.runlog import Run
from lab.steps import Context, deploy

from .conftest import invoke, last_run_steps, on

pytestmark = pytest.mark.slow


def test_docker_is_installed_and_running_on_every_node(cluster, config):
    for node in config.nodes:
        assert on(cluster, node.name, "systemctl is-active docker") == "active"
        assert "docker" in on(cluster, node.name, "id -nG vagrant").split()


def test_daemon_json_trusts_the_registry_and_keeps_dns_local(cluster, config, lab_up):
    caps = json.loads((lab_up["run_dir"] / "capabilities.json").read_text())
    for node in config.nodes:
        data = json.loads(on(cluster, node.name, "cat /etc/docker/daemon.json"))
        assert config.registry in data["insecure-registries"]
        if not caps["own_resolver"]:
            # The node's only resolver is Docker's 127.0.0.11: the engine needs this machine's.
            assert data.get("dns"), f"{node.name}: no dns in daemon.json"
        for server in data.get("dns", []):
            assert ipaddress.ip_address(server).is_private


@pytest.fixture(scope="module")
def selftest_image(cluster, config):
    """The Debian base, pushed to the lab registry: every node can pull it."""
    tag = f"{config.registry}/lab-selftest:1"
    on(cluster, config.manager.name, f"docker tag lab/debian:bookworm {tag} && docker push {tag}")
    return tag


def test_no_inner_container_resolver_is_public(cluster, config, selftest_image):
    """Engines inside nodes must never send lookups off this machine."""
    for node in config.nodes:
        out = on(cluster, node.name, f"docker run --rm --pull missing {selftest_image} cat /etc/resolv.conf")
        servers = [l.split()[1] for l in out.splitlines() if l.startswith("nameserver")]
        assert servers, out
        for server in servers:
            assert not ipaddress.ip_address(server).is_global, f"{node.name}: {server} is public"


def test_swarm_has_every_node_ready_active_and_one_leader(cluster, config):
    rows = [json.loads(l) for l in on(cluster, config.manager.name,
                                      "docker node ls --format '{{json .}}'").splitlines()]
    assert sorted(r["Hostname"] for r in rows) == sorted(n.name for n in config.nodes)
    assert all(r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows)
    assert [r["Hostname"] for r in rows if r["ManagerStatus"] == "Leader"] == [config.manager.name]
    info = json.loads(on(cluster, config.manager.name, "docker info --format '{{json .Swarm}}'"))
    assert info["NodeAddr"] == config.manager.address


def test_registry_catalog_is_read_by_every_worker(cluster, config):
    for w in config.workers:
        json.loads(on(cluster, w.name, f"curl -fsS http://{config.registry}/v2/_catalog"))


def test_an_image_pushed_from_the_manager_is_pulled_on_a_worker(cluster, config, selftest_image):
    w = config.workers[0].name
    on(cluster, w, f"docker rmi -f {selftest_image} >/dev/null 2>&1; docker pull {selftest_image}")
    assert selftest_image in on(cluster, w, "docker images --format '{{.Repository}}:{{.Tag}}'")


def test_the_export_path_is_shared_by_every_node(cluster, config):
    path = config.export_path
    on(cluster, config.manager.name, f"echo from-manager > {path}/.selftest")
    for w in config.workers:
        assert on(cluster, w.name, f"cat {path}/.selftest") == "from-manager"
    on(cluster, config.manager.name, f"rm -f {path}/.selftest")


def test_stand_ins_are_named_in_the_output_and_the_record(lab_up):
    steps = {s["name"].split(":")[0]: s for s in lab_up["steps"]}
    if steps["nfs"]["stand_in"]:
        assert steps["nfs"]["stand_in"] == "shared directory (kernel has no NFS)"
        assert "stand-in: shared directory (kernel has no NFS)" in lab_up["output"]


def test_a_worker_that_left_the_swarm_is_rejoined(cluster, config):
    w = config.workers[-1].name
    on(cluster, w, "docker swarm leave")
    invoke("lab.up")
    steps = {s["name"].split(":")[0]: s for s in last_run_steps()}
    assert steps["swarm"]["outcome"] == "changed"
    rows = [json.loads(l) for l in on(cluster, config.manager.name,
                                      "docker node ls --format '{{json .}}'").splitlines()]
    assert sorted(r["Hostname"] for r in rows) == sorted(n.name for n in config.nodes)
    assert all(r["Status"] == "Ready" for r in rows)


def last_docker_install(cluster, node) -> str:
    """The node's own apt history entry of its last docker.io install."""
    entries = on(cluster, node, "cat /var/log/apt/history.log").split("\n\n")
    return [e for e in entries if "Install:" in e and "docker.io:amd64" in e][-1]


def test_docker_reinstalled_from_the_uncompressed_copy_is_debians_own(cluster, config):
    """Two nodes without docker.io and no uncompressed copy of the host's apt
    cache (as on a first lab.up): one node downloads, the host makes the copy,
    and both install from it (apt reads the lab's index alone). dpkg then
    finds every installed file as Debian's package lists it (md5sums), and
    the engines are back in the swarm."""
    import shutil
    from lab import debcache, nodes
    cache = nodes.state_dir(config) / "cache" / "apt"
    shutil.rmtree(cache / debcache.FOLDER, ignore_errors=True)
    workers = [w.name for w in config.workers[-2:]]
    packages = "docker.io containerd runc"
    for w in workers:
        on(cluster, w, f"systemctl stop docker.socket docker containerd && apt-get remove -y -q {packages}")
        assert on(cluster, w, "command -v dockerd || echo gone").strip() == "gone"
    invoke("lab.up")
    assert debcache.current(cache), "no uncompressed copy of the apt cache after lab.up"
    for w in workers:
        entry = last_docker_install(cluster, w)
        assert "Dir::Etc::SourceList=/run/lab-apt/sources.list" in entry, (w, entry)
        assert on(cluster, w, f"dpkg --verify {packages} && echo verified").strip() == "verified"
        assert on(cluster, w, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == "active"
    steps = {s["name"].split(":")[0]: s for s in last_run_steps()}
    assert steps["docker"]["detail"] == f"installed on {', '.join(workers)}", steps["docker"]


def test_daemon_json_keys_of_a_trainer_are_kept(cluster, config):
    w = config.workers[0].name
    data = json.loads(on(cluster, w, "cat /etc/docker/daemon.json"))
    data["log-level"] = "info"
    on(cluster, w, f"echo '{json.dumps(data)}' > /etc/docker/daemon.json")
    invoke("lab.up")
    after = json.loads(on(cluster, w, "cat /etc/docker/daemon.json"))
    assert after["log-level"] == "info" and config.registry in after["insecure-registries"]


def real_state(cluster, config):
    """What a second lab.up must leave as it is, read from the nodes: the
    running tasks, the image (with its digest) of each service, the registry
    container, the swarm's nodes and every daemon.json."""
    m, stack = config.manager.name, config.stack_name
    tasks = on(cluster, m, f"docker stack ps -q --no-trunc --filter desired-state=running {stack}").split()
    images = on(cluster, m, "docker service inspect --format '{{.Spec.Name}} {{.Spec.TaskTemplate.ContainerSpec.Image}}' "
                            f"$(docker stack services -q {stack})").splitlines()
    assert tasks and images, (tasks, images)
    return {"tasks": sorted(tasks), "images": sorted(images),
            "registry": on(cluster, m, "docker ps -q --no-trunc --filter ancestor=registry:2"),
            "nodes": sorted(on(cluster, m, "docker node ls -q").split()),
            "daemon.json": {n.name: on(cluster, n.name, "cat /etc/docker/daemon.json") for n in config.nodes}}


def test_a_second_lab_up_changes_nothing(cluster, config):
    before = real_state(cluster, config)
    invoke("lab.up")
    steps = last_run_steps()
    assert steps and all(s["outcome"] == "ok" for s in steps), steps
    assert real_state(cluster, config) == before


def test_teaching_mode_shows_the_tutorials_commands_in_order(cluster, config):
    out = invoke("lab.up", "--explain").stdout
    m = config.manager
    wanted = [f"{m.name}$ docker swarm init --advertise-addr {m.address}",
              f"{config.workers[0].name}$ docker swarm join --token <worker token> {m.address}:2377",
              f"{m.name}$ docker run -d -p {m.address}:{config.registry_port}:5000 --restart=always --name registry",
              f"{m.name}$ docker stack deploy -c docker-compose.yaml {config.stack_name}"]
    positions = [out.find(w) for w in wanted]
    assert all(p >= 0 for p in positions), (wanted, out[-3000:])
    assert positions == sorted(positions)


def test_an_engine_stall_is_read_from_the_node_that_logged_it(cluster, config, tmp_path):
    """A slow stack step names the nodes whose engine logged Docker 20.10's
    unanswered bulk sync (a task 30 s late), read from each node's journal:
    the line written by a node's `dockerd`, not a bulk sync that completed,
    and only within the window asked for."""
    ctx = Context(config, cluster, Capabilities(False, False, False, 0, 1, False),
                  Run(tmp_path, "engine-stall"), "", tmp_path)
    stalled, fine = config.workers[0].name, config.workers[1].name
    on(cluster, stalled, "echo 'level=error msg=\"Bulk sync to node 0123456789ab timed out\"' | systemd-cat -t dockerd")
    on(cluster, fine, "echo 'level=debug msg=\"Bulk sync to node 0123456789ab took 1.3ms\"' | systemd-cat -t dockerd")
    time.sleep(1)
    got = deploy.engine_stalls(ctx, 30)
    assert stalled in got and fine not in got, got
    time.sleep(7)
    assert stalled not in deploy.engine_stalls(ctx, 0), "a line older than the window was counted"
