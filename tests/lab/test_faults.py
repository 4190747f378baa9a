"""Bad input and faults on the real lab: each one is refused or repaired,
with a message that says what happened and what to do next."""
import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from tests.nodeshell import interruptible, listing

from .conftest import ROOT, invoke, last_run_steps, on

pytestmark = pytest.mark.slow


def other_lab(tmp_path, **changes):
    """A lab.yaml of another lab (own name, network and ports) in its own folder."""
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    data.update(changes)
    shutil.copy(ROOT / "Vagrantfile", tmp_path / "Vagrantfile")
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def containers(prefix):
    return [n for n in listing("docker", "ps", "-a", "--format", "{{.Names}}") if n.startswith(prefix)]


def test_a_taken_host_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        path = other_lab(tmp_path, name="porttest", network="192.168.58.0/24",
                         nodes=[{"name": "manager", "role": "manager", "address": "192.168.58.10", "memory": 512, "cpus": 1},
                                {"name": "worker1", "role": "worker", "address": "192.168.58.11", "memory": 512, "cpus": 1}],
                         host_ports={"web": port, "api": port + 1})
        result = invoke("lab.up", "--config", str(path), check=False)
    assert result.returncode == 1
    assert f"host_ports.web: 127.0.0.1:{port} is already in use" in result.stdout
    assert not containers("porttest-")
    assert not (tmp_path / ".vagrant").exists()


def test_lab_check_on_a_lab_that_is_down_says_so_and_how_to_bring_it_up(tmp_path):
    path = other_lab(tmp_path, name="downtest")
    result = invoke("lab.check", "--config", str(path), check=False)
    assert result.returncode == 1
    assert "the lab is not up" in result.stdout and "invoke lab.up" in result.stdout


def test_a_node_that_never_answers_ssh_is_named_with_its_ssh_config(tmp_path, lab_up):
    # A node image whose sshd never starts.
    image = "lab-test/node-no-ssh"
    build = subprocess.run(["docker", "build", "-t", image, "-"], input=b"FROM swarmlab/node:bookworm\n"
                           b"RUN systemctl mask ssh.service ssh.socket\n", capture_output=True,
                           env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"})
    assert build.returncode == 0, build.stderr
    path = other_lab(tmp_path, name="sshtest", network="192.168.57.0/24",
                     nodes=[{"name": "manager", "role": "manager", "address": "192.168.57.10", "memory": 512, "cpus": 1},
                            {"name": "worker1", "role": "worker", "address": "192.168.57.11", "memory": 512, "cpus": 1}],
                     host_ports={"web": 8200, "api": 8201})
    try:
        result = invoke("lab.nodes.up", "--config", str(path), check=False,
                        env={"LAB_NODE_IMAGE": image, "LAB_BOOT_TIMEOUT": "20"}, timeout=600)
        assert result.returncode == 1
        assert "did not answer SSH within the boot timeout" in result.stdout
        assert "HostName" in result.stdout and "Port" in result.stdout
    finally:
        invoke("lab.nodes.destroy", "--config", str(path), check=False)
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
    assert not containers("sshtest-")


def test_sigint_in_the_middle_of_lab_up_then_lab_up_converges(cluster, config, lab_up):
    m = config.manager.name
    on(cluster, m, f"docker stack rm {config.stack_name}")
    runs = ROOT / ".lab" / "runs"
    before = set(runs.glob("*-up"))
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "lab.up"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible)
    # This run's own record (not the previous run's, which `latest` still names
    # at first), then the stack's services on the manager: the interrupt lands
    # while the stack step waits for them to converge.
    deadline = time.monotonic() + 180
    record = None
    while record is None or not on(cluster, m, f"docker stack services -q {config.stack_name}", ok=False):
        assert time.monotonic() < deadline and proc.poll() is None, "lab.up never reached the stack step"
        new = [r for r in set(runs.glob("*-up")) - before if '"image: mesh"' in
               ((r / "steps.jsonl").read_text() if (r / "steps.jsonl").exists() else "")]
        record = new[0] if new else None
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "run the same command again" in out
    assert json.loads((record / "run.json").read_text())["result"] == "interrupted"
    last = json.loads((record / "steps.jsonl").read_text().splitlines()[-1])
    assert last["name"].startswith("stack:") and last["outcome"] == "failed", last

    invoke("lab.up")
    names = on(cluster, m, "docker service ls --format '{{.Name}}'").split()
    caps = json.loads((lab_up["run_dir"] / "capabilities.json").read_text())
    wanted = {"db", "backend", "frontend", "nginx-frontend", "nginx-backend"} | (set() if caps["ipvs"] else {"mesh"})
    assert sorted(n for n in names if n.startswith(f"{config.stack_name}_")) == \
        sorted(f"{config.stack_name}_{s}" for s in wanted)
    networks = on(cluster, m, f"docker network ls --format '{{{{.Name}}}}' "
                              f"--filter label=com.docker.stack.namespace={config.stack_name}").split()
    assert sorted(networks) == sorted(set(networks)) and len(networks) == 3


def test_a_killed_node_shows_down_and_lab_up_brings_it_back(cluster, config):
    victim = config.workers[1].name
    subprocess.run(["docker", "kill", f"{config.name}-{victim}"], check=True, capture_output=True)
    assert listing("docker", "inspect", "--format", "{{.State.Running}}", f"{config.name}-{victim}") == ["false"]
    status = json.loads(invoke("lab.status", "--json").stdout)
    row = next(n for n in status["nodes"] if n["name"] == victim)
    assert row["ssh"] is False and row["state"] != "running"

    invoke("lab.up")
    # Real state, not lab.status: the node containers, then the swarm and the stack as the manager has them.
    running = listing("docker", "inspect", "--format", "{{.State.Running}}",
                      *[f"{config.name}-{n.name}" for n in config.nodes])
    assert running == ["true"] * len(config.nodes)
    rows = [json.loads(l) for l in on(cluster, config.manager.name,
                                      "docker node ls --format '{{json .}}'").splitlines()]
    assert sorted(r["Hostname"] for r in rows) == sorted(n.name for n in config.nodes)
    assert all(r["Status"] == "Ready" for r in rows), rows
    services = on(cluster, config.manager.name,
                  f"docker stack services {config.stack_name} --format '{{{{.Replicas}}}}'").split("\n")
    assert services and all(r.split(" ")[0].split("/")[0] == r.split(" ")[0].split("/")[1] != "0"
                            for r in services), services


def test_the_registry_port_taken_on_the_manager_is_named(cluster, config):
    m = config.manager.name
    port = config.registry_port
    on(cluster, m, "docker rm -f registry")
    on(cluster, m, f"setsid nohup python3 -m http.server {port} >/dev/null 2>&1 < /dev/null &")
    try:
        time.sleep(1)
        result = invoke("lab.up", check=False)
        assert result.returncode == 1
        assert f"port {port} is already taken on {m}" in result.stdout
    finally:
        on(cluster, m, f"pkill -f 'http[.]server {port}' || true")
    invoke("lab.up")
    assert json.loads(on(cluster, m, f"curl -fsS http://{config.registry}/v2/_catalog"))["repositories"]


def test_a_node_whose_apt_fails_is_named_and_a_rerun_resumes(cluster, config):
    w = config.workers[-1].name
    hook = "/etc/apt/apt.conf.d/99lab-broken-on-purpose"
    on(cluster, w, "DEBIAN_FRONTEND=noninteractive apt-get remove -y docker.io >/dev/null")
    on(cluster, w, f"echo 'DPkg::Pre-Invoke {{\"echo apt broken on purpose >&2; false\";}};' > {hook}")
    try:
        result = invoke("lab.up", check=False)
        assert result.returncode == 1
        assert f"error on {w}" in result.stdout
        assert "apt-get install -y --no-install-recommends docker.io" in result.stdout
        assert "apt broken on purpose" in result.stdout
        for other in config.nodes[:-1]:
            assert on(cluster, other.name, "systemctl is-active docker") == "active"
    finally:
        on(cluster, w, f"rm -f {hook}")
    invoke("lab.up")
    assert on(cluster, w, "systemctl is-active docker") == "active"
    steps = {s["name"].split(":")[0]: s for s in last_run_steps()}
    assert steps["docker"]["outcome"] == "changed" and w in steps["docker"]["detail"]
