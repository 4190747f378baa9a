"""Tutorial steps 7 and 8: five images in the registry, the stack at full
replicas, and the app answering through 127.0.0.1 as a browser would."""
import json
import secrets
import urllib.request

import pytest

from lab import build
from lab.checks.http import request
from lab.runlog import LabError, Run
from lab.steps import Context
from lab.probe import Capabilities

from .conftest import invoke, last_run_steps, on

pytestmark = pytest.mark.slow
FIVE = {"db": 1, "backend": 2, "frontend": 2, "nginx-frontend": 1, "nginx-backend": 1}


def services(cluster, config):
    rows = [json.loads(l) for l in on(cluster, config.manager.name,
                                      f"docker stack services {config.stack_name} --format '{{{{json .}}}}'").splitlines()]
    return {r["Name"].removeprefix(f"{config.stack_name}_"): r["Replicas"] for r in rows}


def test_five_services_run_at_full_replicas(cluster, config):
    got = services(cluster, config)
    for name, wanted in FIVE.items():
        assert got[name] == f"{wanted}/{wanted}", got


def test_the_catalog_lists_the_five_images(cluster, config):
    catalog = json.loads(on(cluster, config.manager.name, f"curl -fsS http://{config.registry}/v2/_catalog"))
    assert {"database", "backend", "frontend", "nginx-frontend", "nginx-backend"} <= set(catalog["repositories"])


def test_every_service_runs_its_image_from_the_lab_registry(cluster, config):
    out = on(cluster, config.manager.name,
             f"docker stack services {config.stack_name} --format '{{{{.Image}}}}'")
    assert all(line.startswith(f"{config.registry}/") for line in out.splitlines()), out


def test_the_app_tasks_run_on_workers_only(cluster, config):
    out = on(cluster, config.manager.name,
             f"docker stack ps {config.stack_name} --filter desired-state=running --format '{{{{.Name}}}} {{{{.Node}}}}'")
    for line in out.splitlines():
        name, node = line.split()
        if not name.startswith(f"{config.stack_name}_mesh"):
            assert node != config.manager.name, line


def test_login_page_answers_on_127_0_0_1(config):
    with urllib.request.urlopen(f"{config.web_url}login", timeout=5) as r:
        page = r.read().decode()
    assert "<title>Music | Login</title>" in page
    assert 'id="username"' in page and 'type="password"' in page and "Register new account" in page


def test_register_login_and_playlist_flow_through_the_api(config):
    api = config.api_url
    user = {"username": f"t-{secrets.token_hex(4)}", "password": "pw-123456", "fullname": "Test User"}
    assert request("POST", api + "users", user).status == 201
    tokens = request("POST", api + "authentications",
                     {"username": user["username"], "password": user["password"]}).json()["data"]
    auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
    pid = request("POST", api + "playlists", {"name": "Mine"}, auth).json()["data"]["playlistId"]
    sid = request("POST", api + "songs", {"title": "S", "year": 2020, "genre": "g", "performer": "p"}, auth
                  ).json()["data"]["songId"]
    assert request("POST", api + f"playlists/{pid}/songs", {"songId": sid}, auth).status == 201
    listed = request("GET", api + f"playlists/{pid}/songs", headers=auth).json()["data"]["playlist"]
    assert [s["id"] for s in listed["songs"]] == [sid]


def test_stand_ins_are_labelled_where_they_answer(config, lab_up):
    r = request("GET", f"{config.web_url}login")
    caps = json.loads((lab_up["run_dir"] / "capabilities.json").read_text())
    if not caps["ipvs"]:
        assert r.headers.get("X-Lab-Stand-In") == "routing-mesh"
    else:
        assert "X-Lab-Stand-In" not in r.headers


def test_a_dockerfile_that_fails_names_the_image_and_keeps_pushed_ones(cluster, config, tmp_path):
    run = Run(tmp_path, "build-failure")
    caps = Capabilities(False, False, False, 0, 1, False)
    ctx = Context(config, cluster, caps, run, "", tmp_path)
    broken = {"Dockerfile": b"ARG BASE\nFROM ${BASE}\nRUN echo about to fail && false\n"}
    with pytest.raises(LabError) as err:
        build.build(ctx, config.manager.name, "lab-broken:1", broken, what="frontend")
    assert "building the frontend image failed" in str(err.value)
    assert "about to fail" in err.value.output or "returned a non-zero code" in err.value.output
    catalog = json.loads(on(cluster, config.manager.name, f"curl -fsS http://{config.registry}/v2/_catalog"))
    assert {"database", "backend", "frontend"} <= set(catalog["repositories"])


def test_redeploying_the_stack_keeps_users_and_playlists(cluster, config):
    api = config.api_url
    user = {"username": f"keep-{secrets.token_hex(4)}", "password": "pw-keep-1", "fullname": "Kept"}
    assert request("POST", api + "users", user).status == 201
    login = {"username": user["username"], "password": user["password"]}
    token = request("POST", api + "authentications", login).json()["data"]["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    pid = request("POST", api + "playlists", {"name": "Kept list"}, auth).json()["data"]["playlistId"]

    on(cluster, config.manager.name, f"docker stack rm {config.stack_name}")
    invoke("lab.up")
    steps = {s["name"].split(":")[0]: s["outcome"] for s in last_run_steps()}
    assert steps["stack"] == "changed"

    token = request("POST", api + "authentications", login).json()["data"]["accessToken"]
    mine = request("GET", api + "playlists", headers={"Authorization": f"Bearer {token}"}).json()["data"]["playlists"]
    assert pid in [p["id"] for p in mine]


def test_pushed_images_are_kept_where_a_warm_lab_up_finds_them(config, lab_up):
    """The registry's storage is a cache that outlives lab.destroy: the next
    lab.up reads the inputs label of each image there and builds nothing."""
    caps = json.loads((lab_up["run_dir"] / "capabilities.json").read_text())
    if caps["nfs_client"] and caps["nfs_server"]:
        pytest.skip("on VMs the registry keeps its storage on the manager's own disk")
    repos = config.root / ".lab" / "cache" / "registry" / "docker" / "registry" / "v2" / "repositories"
    assert {"database", "backend", "frontend", "nginx-frontend", "nginx-backend"} <= {p.name for p in repos.iterdir()}
