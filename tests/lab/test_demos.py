"""`invoke lab.demo` on the real lab: each demo deploys, its consumer reports
every message (udp: what it lost), nothing of its stack is left on any node,
and musicapp runs on untouched.

Small N here (CI's budget); the full `lab.demo all` table is its own test,
run only with LAB_DEMO_ALL=1 (it rewrites docs/demos.md)."""
import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from lab.demos.stacks import EXPORT_SUBDIR, NAMES
from lab.demos.table import say
from tests.lab.conftest import LAB_NAME, ROOT, app_answering, invoke, on, stack_replicas
from tests.nodeshell import interruptible
from lab.checks.http import request

pytestmark = pytest.mark.slow

N = 30


def latest_run():
    return (ROOT / ".lab" / "runs" / f"latest-{LAB_NAME}").resolve()


def demo_left(cluster, config, stack):
    """Everything of a demo stack still on the lab: services and networks on
    the manager, volumes on every node, its files in the export."""
    label = f"label=com.docker.stack.namespace={stack}"
    m = config.manager.name
    left = on(cluster, m, f"docker service ls -q --filter {label}; docker network ls -q --filter {label}").split()
    for node in config.nodes:
        left += [v for v in on(cluster, node.name, "docker volume ls -q").split() if v.startswith(f"{stack}_")]
    if on(cluster, m, f"test -e {config.export_path}/{EXPORT_SUBDIR} && echo yes || true") == "yes":
        left.append(f"{config.export_path}/{EXPORT_SUBDIR}")
    return left


def settled(cluster, config, seconds=180):
    """Every musicapp service at full replicas, exactly as many tasks meant to
    run as the services ask for, all of them Running, and the db among them,
    as the manager reports them: after a test that drained a node, tasks may
    still be on their way (bounded wait), and a task the swarm is restarting
    waits a while with no task meant to run in its slot. The db's node."""
    m = config.manager.name
    deadline = time.monotonic() + seconds
    while True:
        replicas = list(stack_replicas(cluster, config).values())
        full = bool(replicas) and all(up == want != 0 for up, want in replicas)
        tasks = [line.split() for line in on(cluster, m, f"docker stack ps --filter desired-state=running "
                                                        f"--format '{{{{.Name}}}} {{{{.Node}}}} {{{{.CurrentState}}}}' "
                                                        f"{config.stack_name}").splitlines()]
        running = [t for t in tasks if t[2] == "Running"]
        db = [node for name, node, *_ in running if name.startswith(f"{config.stack_name}_db.")]
        if full and db and len(tasks) == len(running) == sum(want for _, want in replicas):
            return db[0]
        assert time.monotonic() < deadline, f"musicapp not settled within {seconds}s: {replicas}, tasks {tasks}"
        time.sleep(2)


def musicapp_state(cluster, config):
    """Replicas and running task ids of musicapp, and its number of users
    (read in the database itself)."""
    m = config.manager.name
    node = settled(cluster, config)
    services = on(cluster, m, f"docker stack services {config.stack_name} --format '{{{{.Name}}}} {{{{.Replicas}}}}'")
    tasks = sorted(on(cluster, m, f"docker stack ps -q --filter desired-state=running {config.stack_name}").split())
    users = on(cluster, node, f"docker exec -u postgres $(docker ps -q -f name={config.stack_name}_db) "
                              "psql -d musicapp -tAc 'SELECT count(*) FROM users'")
    return {"services": sorted(services.splitlines()), "tasks": tasks, "users": int(users)}


@pytest.fixture(scope="module")
def musicapp_before(cluster, config):
    """A user registered through the API before any demo, and the state then."""
    user = {"username": f"demo-{secrets.token_hex(4)}", "password": "pw-demo-1", "fullname": "Before demos"}
    app_answering(config)
    created = request("POST", config.api_url + "users", user)
    assert created.status == 201
    return {"user": user, "id": created.json()["data"]["userId"], **musicapp_state(cluster, config)}


def reports_of(run_dir, name):
    return json.loads((run_dir / f"demo-{name}.reports.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_demo_delivers_and_leaves_nothing(name, cluster, config, musicapp_before):
    result = invoke("lab.demo", name, "--messages", str(N), "--size", "100", check=False, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = latest_run()
    reports = reports_of(run_dir, name)
    consumers = {k: v for k, v in reports.items() if not k.startswith(("producer", "publisher"))}
    assert consumers
    for service, report in consumers.items():
        # The consumer's own count, not the producer's.
        assert report["role"] == "consumer", service
        if name == "udp":
            assert report["received"] + report["missing"] == N
            assert "lost on the way" in result.stdout
        elif name == "mqtt":
            assert report["fanout"]["received"] == N, service
            assert report["qos1"]["received"] == N, service
        else:
            assert report["received"] == N, (service, report)
            assert report["damaged"] == 0
    if name == "mqtt":
        b = reports["subscriber-b"]
        assert b["cut_after"] and b["reconnected"]
        assert b["qos0"]["received"] < N, "QoS 0 lost nothing across the cut"
        assert reports["subscriber-a"]["retained"]["received"] is True
        assert reports["subscriber-a"]["retained"]["retain_flag"] is True
    if name == "filesystem":
        assert reports["consumer-local"]["node"] == reports["producer"]["node"]
        assert reports["consumer-shared"]["node"] != reports["producer"]["node"]
        # Labelled: the stand-in on node containers, the NFS volume on VMs.
        assert say("words.stand_in", "en") in result.stdout or say("words.nfs", "en") in result.stdout
    if name in ("tcp", "udp", "http", "database"):
        assert reports["consumer"]["node"] != reports["producer"]["node"]
        assert {reports["consumer"]["node"], reports["producer"]["node"]} <= {w.name for w in config.workers}
    if name == "unix":
        assert reports["consumer"]["node"] == reports["producer"]["node"]
    if name == "mqtt":
        assert len({reports[s]["node"] for s in ("publisher", "subscriber-a", "subscriber-b")}) == 3
    assert "median" in result.stdout and "msgs/s" in result.stdout
    steps = [json.loads(l) for l in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert [s["outcome"] for s in steps if s["name"] == f"demo: {name}"] == ["ok"]
    assert demo_left(cluster, config, f"demo-{name}") == []


def test_explain_prints_the_commands_and_the_compose_file(cluster, config):
    result = invoke("lab.demo", "tcp", "--messages", "5", "--explain", timeout=600)
    out = result.stdout
    assert "docker stack deploy -c demo-tcp.yaml demo-tcp" in out
    assert "docker service logs demo-tcp_consumer" in out
    assert "docker stack rm demo-tcp" in out
    assert "endpoint_mode: dnsrr" in out and "node.hostname ==" in out
    assert demo_left(cluster, config, "demo-tcp") == []


def test_keep_leaves_the_stack_and_the_next_run_removes_it(cluster, config):
    invoke("lab.demo", "unix", "--messages", "5", "--keep", timeout=600)
    assert "demo-unix" in on(cluster, config.manager.name, "docker stack ls --format '{{.Name}}'").split()
    assert demo_left(cluster, config, "demo-unix")
    invoke("lab.demo", "tcp", "--messages", "5", "--lang", "id", timeout=600)
    assert demo_left(cluster, config, "demo-unix") == []
    assert demo_left(cluster, config, "demo-tcp") == []


def test_ctrl_c_mid_demo_removes_its_stack(cluster, config):
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "lab.demo", "mqtt", "--messages", "2000"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ), start_new_session=True, preexec_fn=interruptible)
    m = config.manager.name
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if on(cluster, m, "docker service ls -q --filter label=com.docker.stack.namespace=demo-mqtt"):
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(1)
    else:
        proc.kill()
        pytest.fail("the mqtt stack never appeared")
    time.sleep(5)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert demo_left(cluster, config, "demo-mqtt") == []


def test_musicapp_untouched_by_the_demos(cluster, config, musicapp_before):
    after = musicapp_state(cluster, config)
    assert after["services"] == musicapp_before["services"]
    assert after["tasks"] == musicapp_before["tasks"]
    assert after["users"] == musicapp_before["users"]
    login = {"username": musicapp_before["user"]["username"], "password": musicapp_before["user"]["password"]}
    assert request("POST", config.api_url + "authentications", login).status == 201
    assert request("GET", config.api_url + f"users/{musicapp_before['id']}").json()["data"]["user"]["fullname"] == \
        "Before demos"


@pytest.mark.skipif(os.environ.get("LAB_DEMO_ALL") != "1", reason="the full table: LAB_DEMO_ALL=1 (rewrites docs/demos.md)")
def test_demo_all_writes_the_table(cluster, config):
    doc = ROOT / "docs" / "demos.md"
    result = invoke("lab.demo", "all", timeout=1800)
    text = doc.read_text()
    rows = [l for l in text.split("<!-- lab.demo all:")[1].splitlines() if l.startswith("| ") and "/" in l]
    assert len(rows) >= 11, text
    assert "Measured " in text and "cores" in text
    for name in NAMES:
        assert demo_left(cluster, config, f"demo-{name}") == []
    assert "supports" in result.stdout
