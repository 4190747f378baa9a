"""The trainer's "stop tonight, resume tomorrow": lab.down, then lab.up,
brings every service back (the global mesh included) and keeps the data."""
import json
import secrets
import subprocess

import pytest

from lab import nodes
from lab.checks.http import request

from .conftest import invoke, on

pytestmark = pytest.mark.slow


def api(config, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return request(method, config.api_url + path, body, headers, timeout=15)


def node_states(config, field="{{.State.Running}}"):
    out = subprocess.run(["docker", "inspect", "--format", field,
                          *[f"{config.name}-{n.name}" for n in config.nodes]],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_lab_down_then_lab_up_resumes_with_users_and_playlists_kept(lab_up, config):
    user = {"username": f"resume-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(12),
            "fullname": "Resume Test"}
    assert api(config, "POST", "users", user).status == 201
    token = api(config, "POST", "authentications", user).json()["data"]["accessToken"]
    created = api(config, "POST", "playlists", {"name": "kept overnight"}, token)
    assert created.status == 201, created.text

    invoke("lab.down")
    assert node_states(config) == ["false"] * len(config.nodes)
    # Each node shut down (systemd stopped its engine and the app's containers),
    # none was killed (137: SIGKILL, what Vagrant's 1 s default stop came to).
    assert "137" not in node_states(config, "{{.State.ExitCode}}"), node_states(config, "{{.State.ExitCode}}")

    result = invoke("lab.up", timeout=900)
    assert "forcing new tasks" in result.stdout, result.stdout

    cluster = nodes.kept_cluster(config)
    try:
        rows = [json.loads(line) for line in on(
            cluster, config.manager.name,
            f"docker stack services {config.stack_name} --format '{{{{json .}}}}'").splitlines()]
    finally:
        cluster.close()
    replicas = {r["Name"]: r["Replicas"].split(" ")[0] for r in rows}
    assert replicas[f"{config.stack_name}_mesh"] == "1/1", replicas
    assert all(r.split("/")[0] == r.split("/")[1] != "0" for r in replicas.values()), replicas

    again = api(config, "POST", "authentications", user)
    assert again.status == 201, again.text
    mine = api(config, "GET", "playlists", token=again.json()["data"]["accessToken"])
    assert [p["name"] for p in mine.json()["data"]["playlists"]] == ["kept overnight"]

    invoke("lab.check", "--no-browser")
