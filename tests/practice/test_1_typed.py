"""A whole practice run by hand: for every step, its check first fails and
names what is missing; the mistakes trainees really make are made for real
and named; then the step's solution is typed exactly as shown and the check
passes. The run ends with lab.check green."""
import json
import time

import pytest
import yaml

from lab.steps import app_source, deploy

from .conftest import ROOT, check, invoke, solution, status

pytestmark = pytest.mark.slow


def wait_check(expect_done, *texts, seconds=180):
    """Swarm converges in its own time: check again until it says what is expected."""
    deadline = time.monotonic() + seconds
    while True:
        result = invoke("lab.practice.check", check=False)
        out = result.stdout
        if result.returncode == (0 if expect_done else 1) and all(t in out for t in texts):
            return out
        assert time.monotonic() < deadline, f"practice.check never said {texts}:\n{out}"
        time.sleep(5)


def test_start_brings_the_nodes_up_bare_and_shows_step_0(config, trainee):
    out = invoke("lab.practice.start", "--reset").stdout
    assert "Step 0/9: Install Docker on every node" in out
    trainee.connect()
    for n in config.nodes:
        assert trainee.run(n.name, "command -v docker || echo none") == "none"
    s = status()
    assert s["docker"]["status"] == "current"
    assert {s[k]["status"] for k in s if k != "docker"} == {"not started"}


def test_docker(config, trainee):
    out = check(False)
    for n in config.nodes:
        assert f"{n.name}: Docker is not installed and running" in out
    trainee.type(solution())
    trainee.connect()  # log out and in again: the docker group takes effect
    out = check(True)
    assert "Step 0 is done" in out and "Step 1/9: Form the swarm" in out


def test_swarm_advertised_outside_the_lab_network_then_a_worker_in_a_swarm_of_its_own(config, trainee):
    m, w1, w2 = config.manager, config.workers[0], config.workers[1]
    assert f"{m.name} is not a swarm manager yet" in check(False)
    # Another address of the manager, outside the lab network (the NAT one on VMs).
    others = [a for a in trainee.run(m.name, "hostname -I").split() if ":" not in a and a != m.address]
    assert others, "the manager has no address outside the lab network"
    other = others[0]
    trainee.run(m.name, f"docker swarm init --advertise-addr {other}")
    assert f"the swarm is advertised on {other}, not on the lab address {m.address}" in check(False)
    trainee.run(m.name, "docker swarm leave --force")

    trainee.run(w2.name, f"docker swarm init --advertise-addr {w2.address}")
    lines = solution()
    assert lines[0] == (m.name, f"docker swarm init --advertise-addr {m.address}")
    trainee.type(lines[:1])
    out = check(False)
    assert f"{w2.name} is in another swarm" in out and f"{w1.name} has not joined the swarm" in out
    trainee.run(w2.name, "docker swarm leave --force")
    trainee.type(lines[1:])
    check(True)
    listed = trainee.run(m.name, "docker node ls --format '{{.Hostname}} {{.Status}}'").splitlines()
    assert sorted(listed) == sorted(f"{n.name} Ready" for n in config.nodes)


def test_app_cloned_from_the_lab_repository(config, trainee):
    out = check(False)
    assert "no copy of the app" in out and app_source.REPOSITORY in out
    trainee.type(solution())
    check(True)
    assert trainee.run(config.manager.name, "git -C ~/musicapp log --oneline | wc -l") == "1"


def test_server_name_a_missing_semicolon_then_the_name_set(config, trainee):
    conf = "~/musicapp/nginx/nginx-frontend.conf"
    trainee.run(config.manager.name, f"sed -i 's/server_name localhost;/server_name localhost/' {conf}")
    line = next(n for n, text in enumerate((ROOT / "nginx" / "nginx-frontend.conf").read_text().splitlines(), 1)
                if "server_name localhost;" in text)
    assert f"nginx-frontend.conf: line {line}: server_name has no closing ;" in check(False)
    trainee.run(config.manager.name, "git -C ~/musicapp checkout -- nginx")
    trainee.type(solution())
    check(True)
    assert "server_name music.lab;" in trainee.run(config.manager.name, f"cat {conf}")


def test_frontend_env_pointing_at_localhost_then_right(config, trainee):
    env = "~/musicapp/compose/frontend/.env"
    assert "compose/frontend/.env does not exist" in check(False)
    trainee.run(config.manager.name, f"printf 'APP_NAME=\"Music\"\\nAPI_ENDPOINT=\"http://localhost:8080/\"\\n' > {env}")
    assert "API_ENDPOINT is http://localhost:8080/: the browser would call itself there" in check(False)
    trainee.type(solution())
    check(True)


def test_registry_wrong_port_bad_json_and_no_restart(config, trainee):
    m = config.manager.name
    port = config.registry_port
    assert "no container of registry:2 is running" in check(False)
    trainee.run(m, "docker run -d -p 5000:5000 --name wrongport registry:2")
    assert f"the registry does not publish port {port}" in check(False)
    trainee.run(m, "docker rm -f wrongport")

    lines = solution()
    run_registry, daemon = lines[:2], lines[2:]
    assert run_registry[0][1].startswith(f"docker run -d -p {config.manager.address}:{port}:5000")
    trainee.type(run_registry)
    out = check(False)
    for n in config.nodes:
        assert f"{n.name}: /etc/docker/daemon.json does not list {config.registry}" in out
    w1 = config.workers[0].name
    trainee.root(w1, f"printf '{{\\n  \"insecure-registries\": [\"{config.registry}\"\\n}}\\n' > /etc/docker/daemon.json")
    assert f"{w1}: /etc/docker/daemon.json is not valid JSON (line 3" in check(False)
    trainee.type(daemon[:1])
    out = check(False)
    for n in config.nodes:
        assert f"{n.name}: /etc/docker/daemon.json lists {config.registry}, but the running Docker does not" in out
    trainee.type(daemon[1:])
    check(True)


def test_nfs(config, trainee):
    lines = solution()
    if lines[0][1].startswith("findmnt"):
        # Node containers: no NFS in the kernel; the shared directory stands in,
        # already mounted, so the check passes before anything is typed. Its
        # commands show a file written on the manager read on every worker.
        trainee.type(lines)
        assert "Step 6 is done" in check(True)
        return
    assert f"does not export {config.export_path}" in check(False)
    trainee.type(lines)
    check(True)


def test_images_tagged_localhost_then_built_but_not_pushed(config, trainee):
    m = config.manager.name
    assert f"the registry has no database (build {config.registry}/database" in check(False)
    trainee.run(m, "cd ~/musicapp && docker build -t localhost:4000/nginx-backend -f compose/nginx-proxy/Dockerfile "
                   "--build-arg CONF=nginx-backend.conf .")
    assert "nginx-backend is tagged localhost:4000/nginx-backend: workers cannot pull" in check(False)
    lines = solution()
    builds = [line for line in lines if not line[1].startswith(("docker push", "curl"))]
    trainee.type(builds)
    assert f"{config.registry}/database is built but not pushed" in check(False)
    trainee.type([line for line in lines if line not in builds])
    check(True)


def test_deploy_with_a_missing_image_and_the_db_off_the_export(config, trainee):
    m = config.manager.name
    stack = config.stack_name
    assert f"no stack {stack} is deployed" in check(False)
    lines = solution()
    secrets = [line for line in lines if "docker secret create" in line[1]]
    assert len(secrets) == 3
    trainee.type(secrets)
    wrong = yaml.safe_load(trainee.run(m, f"cat {deploy.STAND_IN_FILE}"))
    wrong["services"]["frontend"]["image"] += ":not-pushed"
    wrong["volumes"]["db-data"] = {}
    trainee.run(m, f"cat > ~/wrong.yaml <<'EOF'\n{yaml.safe_dump(wrong)}EOF")
    trainee.run(m, f"docker stack deploy -c ~/wrong.yaml {stack}")
    out = wait_check(False, "frontend cannot start:", f"No such image: {config.registry}/frontend:not-pushed",
                     "the db's data volume")
    db_node = next(line for line in out.splitlines() if "the db's data volume" in line).split(":")[0].split()[-1]
    assert db_node in {w.name for w in config.workers}

    trainee.run(m, f"docker stack rm {stack}")
    deadline = time.monotonic() + 120
    while trainee.run(db_node, f"docker volume rm {stack}_db-data >/dev/null 2>&1 && echo gone || true") != "gone":
        assert time.monotonic() < deadline, "the db's volume was never released"
        time.sleep(2)
    while trainee.run(m, f"docker network ls -q --filter label=com.docker.stack.namespace={stack}"):
        assert time.monotonic() < deadline, "the stack's networks were never removed"
        time.sleep(1)
    trainee.type([line for line in lines if line not in secrets])
    wait_check(True, "Step 8 is done", seconds=300)


def test_verify_fails_while_the_front_door_is_down_then_passes(config, trainee):
    m = config.manager.name
    name = f"{config.stack_name}_nginx-frontend"
    trainee.run(m, f"docker service scale {name}=0")
    assert f"{config.web_url}login answered" in check(False)
    trainee.run(m, f"docker service scale {name}=1")
    trainee.type(solution())
    wait_check(True, "Every step is done", seconds=120)


def test_every_step_is_done_by_hand_and_lab_check_is_green(config):
    s = status()
    assert {k: v["status"] for k, v in s.items()} == {k: "done" for k in s}
    assert all(v["attempts"] >= 1 for v in s.values())
    invoke("lab.check")


def test_equivalent_solutions_are_accepted(config, trainee):
    """Another registry name, a daemon.json with other keys and formatting."""
    m = config.manager.name
    trainee.run(m, "docker rename registry my-own-registry")
    for n in config.nodes:
        current = json.loads(trainee.root(n.name, "cat /etc/docker/daemon.json"))
        current["log-level"] = "info"
        trainee.root(n.name, f"cat > /etc/docker/daemon.json <<'EOF'\n{json.dumps(current, indent=8)}\nEOF")
    result = invoke("lab.practice.check", "--all", check=False)
    assert result.returncode == 0, result.stdout
    assert "✗" not in result.stdout
