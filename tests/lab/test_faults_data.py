"""Faults on the running lab, judged by what a user sees: the app's downtime
(a probe loop through 127.0.0.1) and the users and playlists it keeps
(counted through the API before and after). Each test prints its figures and
adds them to the lab's faults.json for docs/benchmarks.md."""
import json
import secrets
import threading
import time

import pytest

from lab import load as loadmod
from lab.background import Every
from lab.checks.http import request
from lab.nodes import own_dir

from .conftest import app_answering, invoke, last_run_steps, on

pytestmark = pytest.mark.slow
STACK_TASKS_SECONDS = 240


class Probe(Every):
    """A user's read of their playlists every 0.25 s (the database behind it)."""

    interval = 0.25

    def __init__(self, config, token):
        super().__init__()
        self.url = f"{config.api_url}playlists"
        self.auth = {"Authorization": f"Bearer {token}"}
        self.samples = []  # (monotonic seconds, status; 0 when nothing answered)

    def sample(self):
        try:
            status = request("GET", self.url, headers=self.auth, timeout=3).status
        except OSError:
            status = 0
        self.samples.append((time.monotonic(), status))

    def wait_ok(self, seconds, streak=8):
        """Until `streak` answers in a row are 200 (bounded); whether they were."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            tail = [s for _, s in self.samples[-streak:]]
            if len(tail) == streak and all(s == 200 for s in tail):
                return True
            time.sleep(0.5)
        return False

    def figures(self):
        assert self.samples, "the probe made no request"
        bad = [(t, s) for t, s in self.samples if s != 200]
        return {"probes": len(self.samples), "failed": len(bad),
                "errors_5xx": sum(1 for _, s in bad if s >= 500), "no_answer": sum(1 for _, s in bad if s == 0),
                "downtime_s": round(bad[-1][0] - bad[0][0] + 0.25, 1) if bad else 0.0,
                "statuses": sorted({s for _, s in self.samples})}


def record(config, name, figures):
    print(f"\n{name}: {json.dumps(figures)}")
    path = own_dir(config) / "faults.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = dict(figures, when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    path.write_text(json.dumps(data, indent=2))


def paced(method, url, body, seconds=60):
    """Register and login are rate-limited (429): wait them out, bounded."""
    deadline = time.monotonic() + seconds
    while True:
        answer = request(method, url, body, timeout=10)
        if answer.status != 429 or time.monotonic() > deadline:
            return answer
        time.sleep(1)


@pytest.fixture(scope="module")
def people(config, lab_up):
    """Three users with two playlists each (a song in one), made through the API."""
    app_answering(config)
    api = config.api_url
    made = []
    for i in range(3):
        user = {"username": f"fault-{secrets.token_hex(4)}", "password": "pw-" + secrets.token_hex(6),
                "fullname": f"Fault {i}"}
        answer = paced("POST", api + "users", user)
        assert answer.status == 201, answer.json()
        uid = answer.json()["data"]["userId"]
        login = paced("POST", api + "authentications", {"username": user["username"], "password": user["password"]})
        assert login.status == 201, login.json()
        auth = {"Authorization": f"Bearer {login.json()['data']['accessToken']}"}
        for name in ("one", "two"):
            assert request("POST", api + "playlists", {"name": name}, auth).status == 201
        made.append({"id": uid, "user": user, "auth": auth})
    return made


def counts(config, people):
    """Users that exist and the playlists (with their songs) each can read."""
    api = config.api_url
    users = sum(1 for p in people if request("GET", api + f"users/{p['id']}", timeout=10).status == 200)
    lists = {}
    for p in people:
        answer = request("GET", api + "playlists", headers=p["auth"], timeout=10)
        assert answer.status == 200, (answer.status, answer.json())
        lists[p["id"]] = sorted(pl["id"] for pl in answer.json()["data"]["playlists"])
    return {"users": users, "playlists": sum(len(v) for v in lists.values()), "ids": lists}


def tasks_running(cluster, config, seconds=STACK_TASKS_SECONDS):
    """Every service of the stack at its replica count, read from the manager."""
    deadline = time.monotonic() + seconds
    while True:
        out = on(cluster, config.manager.name,
                 f"docker stack services {config.stack_name} --format '{{{{.Name}}}} {{{{.Replicas}}}}'", ok=False)
        rows = [line.split() for line in out.splitlines() if len(line.split()) == 2]
        if rows and all(r[1].split("/")[0] == r[1].split("/")[1] != "0" for r in rows):
            return
        assert time.monotonic() < deadline, f"the stack did not come back to full replicas: {out}"
        time.sleep(2)


def task_container(cluster, config, service):
    """(node, container id) of the service's running task, from the manager and that node."""
    out = on(cluster, config.manager.name,
             f"docker service ps {config.stack_name}_{service} --filter desired-state=running "
             "--format '{{.Node}} {{.CurrentState}}'")
    nodes = [line.split()[0] for line in out.splitlines() if " Running" in line]
    assert nodes, f"no running task of {service}: {out}"
    node = nodes[0]
    cid = on(cluster, node, f"docker ps -q --filter label=com.docker.swarm.service.name={config.stack_name}_{service}")
    assert cid, f"{node} runs no container of {service}"
    return node, cid.split()[0]


def test_the_db_task_killed_is_restarted_by_swarm_and_nothing_is_lost(cluster, config, people):
    tasks_running(cluster, config)
    before = counts(config, people)
    assert before["users"] == 3 and before["playlists"] == 6, before
    node, cid = task_container(cluster, config, "db")
    with Probe(config, people[0]["auth"]["Authorization"].split()[1]) as probe:
        time.sleep(3)
        start = time.monotonic()
        on(cluster, node, f"docker kill {cid}")
        recovered = probe.wait_ok(240)
        back = time.monotonic() - start
        time.sleep(2)
    assert recovered, probe.figures()
    figures = probe.figures()
    assert figures["failed"] > 0, "the probe saw no failure: the kill did not reach the app's database"
    tasks_running(cluster, config)
    assert counts(config, people) == before
    _, new_cid = task_container(cluster, config, "db")
    assert new_cid != cid
    record(config, "db task killed", dict(figures, answering_again_after_s=round(back, 1), node=node))


def test_the_managers_docker_restarted_and_nothing_is_lost(cluster, config, people):
    tasks_running(cluster, config)
    before = counts(config, people)
    m = config.manager.name
    with Probe(config, people[0]["auth"]["Authorization"].split()[1]) as probe:
        time.sleep(3)
        start = time.monotonic()
        on(cluster, m, "systemctl restart docker", timeout=300)
        by_itself = probe.wait_ok(180)
        repaired_by = None
        if not by_itself:
            # The documented repair: lab.up puts back what swarm did not.
            invoke("lab.up")
            repaired_by = [s["name"] for s in last_run_steps() if s["outcome"] == "changed"]
            assert probe.wait_ok(120), probe.figures()
        back = time.monotonic() - start
        time.sleep(2)
    figures = probe.figures()
    record(config, "manager's docker restarted",
           dict(figures, answering_again_after_s=round(back, 1), came_back_by_itself=by_itself,
                repaired_by_lab_up=repaired_by))
    assert figures["failed"] > 0, "the probe saw no failure: the restart did not reach the app"
    tasks_running(cluster, config)
    assert counts(config, people) == before
    # The mesh stand-in restarts whatever its exit code: no lab.up needed.
    assert by_itself, f"the app came back only after lab.up changed {repaired_by}"


def test_a_backend_replica_killed_under_load(cluster, config, people):
    tasks_running(cluster, config)
    before = counts(config, people)
    node, cid = task_container(cluster, config, "backend")
    load = loadmod.Load(config, seed=7)
    load.setup()
    result = {}
    runner = threading.Thread(target=lambda: result.update(stats=load.run(20, 40)))
    runner.start()
    time.sleep(10)
    on(cluster, node, f"docker kill {cid}")
    runner.join(timeout=120)
    assert not runner.is_alive()
    stats = result["stats"]
    assert stats.sent >= 700, stats.line()
    tasks_running(cluster, config)
    assert counts(config, people) == before
    failed = [r for r in stats.results if r.status >= 500 or r.status == 0]
    record(config, "backend replica killed under 20 requests/s",
           {"sent": stats.sent, "errors_5xx": stats.errors_5xx, "no_answer": stats.no_answer,
            "p50_ms": round(stats.percentile(50) * 1000), "p99_ms": round(stats.percentile(99) * 1000),
            "failed_kinds": sorted({r.kind for r in failed}), "node": node, "killed_after_s": 10})


def registry_binding(cluster, config):
    state = json.loads(on(cluster, config.manager.name, "docker inspect registry"))[0]
    return [(b["HostIp"], b["HostPort"]) for b in state["HostConfig"]["PortBindings"]["5000/tcp"]]


def test_the_registry_removed_then_lab_up_puts_it_back_on_the_managers_address(cluster, config, people):
    tasks_running(cluster, config)
    before = counts(config, people)
    m = config.manager
    port = config.registry_port
    with Probe(config, people[0]["auth"]["Authorization"].split()[1]) as probe:
        time.sleep(2)
        on(cluster, m.name, "docker rm -f registry")
        assert on(cluster, m.name, f"curl -fsS --max-time 5 http://{config.registry}/v2/_catalog", ok=False) == ""
        start = time.monotonic()
        invoke("lab.up")
        repair = time.monotonic() - start
        time.sleep(2)
    steps = {s["name"].split(":")[0]: s["outcome"] for s in last_run_steps()}
    assert steps["registry"] == "changed", steps
    figures = probe.figures()
    catalog = json.loads(on(cluster, m.name, f"curl -fsS http://{config.registry}/v2/_catalog"))["repositories"]
    assert {"database", "backend", "frontend", "nginx-frontend", "nginx-backend"} <= set(catalog)
    for w in config.workers:
        assert on(cluster, w.name, f"curl -fsS --max-time 5 http://{config.registry}/v2/_catalog")
    # Published on the lab address only: not on the manager's loopback, nor
    # on its other (NAT) address.
    assert registry_binding(cluster, config) == [(m.address, str(port))]
    for other in ["127.0.0.1"] + on(cluster, m.name, "hostname -I").split():
        if other != m.address:
            assert on(cluster, m.name, f"curl -sS --max-time 3 http://{other}:{port}/v2/_catalog", ok=False) == "", other
    assert counts(config, people) == before
    record(config, "registry removed, lab.up repairs it",
           dict(figures, lab_up_s=round(repair, 1), steps_changed=[k for k, v in steps.items() if v == "changed"]))
