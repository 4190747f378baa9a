"""Tutorial steps 7 and 8: five images in the registry, the stack at full
replicas, and the app answering through 127.0.0.1 as a browser would."""
import json
import secrets
import shlex
import tarfile
import urllib.request

import pytest

from lab import nodes
from lab.checks.http import request
from lab.runlog import LabError, Run
from lab.steps import Context, app_images
from lab.probe import Capabilities

from tests.nodeshell import listing

from .conftest import invoke, last_run_steps, on, stack_replicas

pytestmark = pytest.mark.slow
FIVE = {"db": 1, "backend": 2, "frontend": 2, "nginx-frontend": 1, "nginx-backend": 1}
FIVE_IMAGES = ("database", "backend", "frontend", "nginx-frontend", "nginx-backend")
KEPT = "lab-test-kept"


def test_five_services_run_at_full_replicas(cluster, config):
    got = stack_replicas(cluster, config)
    for name, wanted in FIVE.items():
        assert got[name] == (wanted, wanted), got


def test_the_catalog_lists_the_five_images(cluster, config):
    catalog = json.loads(on(cluster, config.manager.name, f"curl -fsS http://{config.registry}/v2/_catalog"))
    assert {"database", "backend", "frontend", "nginx-frontend", "nginx-backend"} <= set(catalog["repositories"])


def test_every_service_runs_its_image_from_the_lab_registry(cluster, config):
    out = on(cluster, config.manager.name,
             f"docker stack services {config.stack_name} --format '{{{{.Image}}}}'")
    assert len(out.splitlines()) >= len(FIVE), out
    assert all(line.startswith(f"{config.registry}/") for line in out.splitlines()), out


def test_the_app_tasks_run_on_workers_only(cluster, config):
    out = on(cluster, config.manager.name,
             f"docker stack ps {config.stack_name} --filter desired-state=running --format '{{{{.Name}}}} {{{{.Node}}}}'")
    placed = [line.split() for line in out.splitlines()]
    app = [(name, node) for name, node in placed if not name.startswith(f"{config.stack_name}_mesh")]
    assert {name.split(".")[0].removeprefix(f"{config.stack_name}_") for name, _ in app} == set(FIVE), out
    for name, node in app:
        assert node != config.manager.name, (name, node)



def test_the_backend_image_makes_its_dummy_hash_whatever_the_random_password(cluster, config):
    """In a running backend task, with the image's own bcrypt (Debian's, which
    refuses a NUL byte): 300 fresh dummy hashes at the lowest cost. With raw
    random bytes as the password one in sixteen failed, and so did the
    backend's start (a task restart in lab.up)."""
    service = f"{config.stack_name}_backend"
    node = on(cluster, config.manager.name,
              f"docker service ps {service} --filter desired-state=running --format '{{{{.Node}}}}'").split()[0]
    container = on(cluster, node, f"docker ps -q --filter label=com.docker.swarm.service.name={service}").split()[0]
    script = ("import musicapi.auth as a\n"
              "for _ in range(300):\n"
              "    a._dummy_hashes.clear()\n"
              "    assert a.dummy_hash(4).startswith('$2b$04$')\n"
              "print('made 300')")
    assert on(cluster, node, f"docker exec {container} python3 -c {shlex.quote(script)}") == "made 300"

def test_login_page_answers_on_127_0_0_1(config, lab_up):
    with urllib.request.urlopen(f"{config.web_url}login", timeout=5) as r:
        page = r.read().decode()
    assert "<title>Music | Login</title>" in page
    assert 'id="username"' in page and 'type="password"' in page and "Register new account" in page


def test_register_login_and_playlist_flow_through_the_api(config, lab_up):
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


def registry_digests(cluster, config, names):
    """name -> digest of name:latest's manifest in the lab registry (None: absent)."""
    script = "; ".join(
        f"printf '{n} '; curl -fsSI -H 'Accept: {app_images.MANIFEST_V2}' "
        f"http://{config.registry}/v2/{n}/manifests/latest | tr -d '\\r' "
        f"| sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'; echo" for n in names)
    rows = [line.split() for line in on(cluster, config.manager.name, script).splitlines() if line.strip()]
    got = {row[0]: (row[1] if len(row) > 1 else None) for row in rows}
    assert set(got) == set(names), (names, got)
    return got


def test_a_dockerfile_that_fails_names_the_image_and_keeps_pushed_ones(cluster, config, tmp_path, monkeypatch):
    """The images step builds and pushes one image after another: a build
    that fails names its image, and what was pushed before it stays, digest
    unchanged (a step that built everything before pushing would lose it)."""
    run = Run(tmp_path, "build-failure")
    caps = Capabilities(False, False, False, 0, 1, False)
    ctx = Context(config, cluster, caps, run, "", tmp_path)
    before = registry_digests(cluster, config, FIVE_IMAGES)
    assert all(before.values()), before
    stamp = secrets.token_hex(4)
    kept = app_images.AppImage(KEPT, {"Dockerfile": f"ARG BASE\nFROM ${{BASE}}\nLABEL stamp={stamp}\n".encode()})
    broken = app_images.AppImage("lab-test-broken", {
        "Dockerfile": b"ARG BASE\nFROM ${BASE}\nRUN echo about to fail && false\n"})
    monkeypatch.setattr(app_images, "app_images", lambda ctx, names: [kept, broken])
    with pytest.raises(LabError) as err:
        app_images.build_all(ctx, [KEPT, "lab-test-broken"])
    assert "building the lab-test-broken image failed" in str(err.value)
    assert "about to fail" in err.value.output or "returned a non-zero code" in err.value.output
    after = registry_digests(cluster, config, FIVE_IMAGES + (KEPT, "lab-test-broken"))
    assert after["lab-test-broken"] is None
    assert after[KEPT], "the image pushed before the failed build is not in the registry"
    # The registry holds this run's build, not one of an earlier run.
    manifest = json.loads(on(cluster, config.manager.name,
                             f"curl -fsS -H 'Accept: {app_images.MANIFEST_V2}' "
                             f"http://{config.registry}/v2/{KEPT}/manifests/latest"))
    blob = json.loads(on(cluster, config.manager.name, f"curl -fsS http://{config.registry}/v2/{KEPT}/blobs/"
                                                       f"{manifest['config']['digest']}"))
    assert blob["config"]["Labels"]["stamp"] == stamp
    assert {n: after[n] for n in FIVE_IMAGES} == before


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


def registry_revisions(config):
    """Every manifest revision the registry's storage holds (a push adds one)."""
    repos = config.root / ".lab" / "cache" / "registry" / "docker" / "registry" / "v2" / "repositories"
    return sorted(str(p.relative_to(repos)) for p in repos.glob("*/_manifests/revisions/sha256/*"))


# About 5 minutes (a destroy and a new lab.up): outside CI's run, with -m extended.
@pytest.mark.extended
def test_a_warm_lab_up_after_destroy_builds_and_pushes_nothing(cluster, config, lab_up):
    """The registry's storage is a cache that outlives lab.destroy: the next
    lab.up finds each image there (by its inputs label) and neither builds
    nor pushes. Judged from the registry and the new manager's engine, not
    from the lab's own record. Runs last here: it re-creates the nodes."""
    caps = json.loads((lab_up["run_dir"] / "capabilities.json").read_text())
    if caps["nfs_client"] and caps["nfs_server"]:
        pytest.skip("on VMs the registry keeps its storage on the manager's own disk")
    digests = registry_digests(cluster, config, FIVE_IMAGES)
    assert all(digests.values()), digests
    revisions = registry_revisions(config)
    assert {r.split("/")[0] for r in revisions} >= set(FIVE_IMAGES), revisions

    invoke("lab.destroy")
    assert listing("docker", "ps", "-a", "--filter", f"name=^{config.name}-", "--format", "{{.Names}}") == []
    invoke("lab.up")

    # The session's connections point at the destroyed nodes: take the new ones.
    fresh = nodes.kept_cluster(config)
    assert fresh is not None
    cluster.close()
    cluster.settings, cluster.conns = fresh.settings, fresh.conns

    assert registry_revisions(config) == revisions, "lab.up pushed into the registry"
    assert registry_digests(cluster, config, FIVE_IMAGES) == digests
    # The manager's engine is new: a build would have left its image there.
    built = on(cluster, config.manager.name, "docker images --format '{{.Repository}}'").split()
    assert not [r for r in built if r.split("/")[-1] in FIVE_IMAGES], built
    # registry:2 came from the host's saved copy (an image built anew would
    # have another id), and with it the base a trainee's docker build needs.
    copies = list((config.root / ".lab" / "cache" / "images").glob("*+base.tar"))
    assert len(copies) == 1, copies
    with tarfile.open(copies[0]) as saved:
        entries = json.load(saved.extractfile("manifest.json"))
    saved_ids = {tag: "sha256:" + e["Config"].removesuffix(".json") for e in entries for tag in e["RepoTags"]}
    on_manager = {name: on(cluster, config.manager.name, f"docker image inspect --format '{{{{.Id}}}}' {name}")
                  for name in ("registry:2", "lab/debian:bookworm")}
    assert on_manager["registry:2"] == saved_ids["registry:2"], (on_manager, saved_ids)
    assert on_manager["lab/debian:bookworm"] == saved_ids["lab/debian:bookworm-slim"], (on_manager, saved_ids)
    steps = {s["name"]: s for s in last_run_steps()}
    images = [s for name, s in steps.items() if name.startswith("image: ") and name[7:] in FIVE_IMAGES]
    assert len(images) == len(FIVE_IMAGES), steps
    assert all("cached" in s.get("detail", "") for s in images), images
    with urllib.request.urlopen(f"{config.web_url}login", timeout=10) as r:
        assert r.status == 200
