"""Rendering the tutorial's stack file for each set of kernel capabilities."""
from pathlib import Path

import yaml

from lab import config as cfg
from lab import stack
from lab.probe import Capabilities

ROOT = Path(__file__).resolve().parents[2]
SOURCE = (ROOT / "compose" / "docker-compose.yaml").read_text()
LAB = cfg.load(ROOT / "lab.yaml")
VM = Capabilities(ipvs=True, nfs_client=True, nfs_server=True, memory_mb=2048, cgroup=2, own_resolver=True)
CONTAINER = Capabilities(ipvs=False, nfs_client=False, nfs_server=False, memory_mb=2048, cgroup=1,
                         own_resolver=False)


def test_the_source_keeps_the_course_shape():
    data = yaml.safe_load(SOURCE)
    assert list(data["services"]) == ["db", "backend", "frontend", "nginx-frontend", "nginx-backend"]
    replicas = {k: v["deploy"]["replicas"] for k, v in data["services"].items()}
    assert replicas == {"db": 1, "backend": 2, "frontend": 2, "nginx-frontend": 1, "nginx-backend": 1}
    for svc in data["services"].values():
        assert svc["deploy"]["placement"]["constraints"] == ["node.role == worker"]
        assert svc["deploy"]["restart_policy"]["condition"] == "on-failure"
        assert svc["image"].startswith("<ip-manager>:4000/")
    assert all(n["driver"] == "overlay" for n in data["networks"].values())


def test_on_vms_only_the_manager_address_is_substituted():
    r = stack.render(SOURCE, LAB, VM)
    assert r.adaptations == []
    assert "<ip-manager>" not in r.text
    assert r.data["services"]["backend"]["image"] == "192.168.56.10:4000/backend"
    assert "endpoint_mode" not in r.data["services"]["backend"]["deploy"]
    assert r.data["services"]["nginx-frontend"]["ports"] == ["80:80"]
    assert r.data["volumes"]["db-data"]["driver_opts"] == {
        "type": "nfs", "o": "addr=192.168.56.10,rw,hard", "device": ":/etc/db-data"}
    assert "mesh" not in r.data["services"]
    assert r.images() == ["database", "backend", "frontend", "nginx-frontend", "nginx-backend"]


def test_without_ipvs_services_use_dnsrr_host_ports_and_a_named_mesh_stand_in():
    r = stack.render(SOURCE, LAB, CONTAINER)
    for name, svc in r.data["services"].items():
        assert svc["deploy"]["endpoint_mode"] == "dnsrr", name
    assert r.data["services"]["nginx-backend"]["ports"] == [
        {"target": 8080, "published": 8080, "protocol": "tcp", "mode": "host"}]
    mesh = r.data["services"]["mesh"]
    assert mesh["deploy"]["mode"] == "global"
    assert mesh["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert {p["published"] for p in mesh["ports"]} == {80, 8080}
    assert any("routing mesh" in a and "no IPVS" in a for a in r.adaptations)
    assert "# adaptation: stand-in: routing mesh" in r.text
    assert stack.expected_replicas(r, workers=3)["mesh"] == 1


def test_without_nfs_the_db_volume_binds_the_shared_directory():
    r = stack.render(SOURCE, LAB, CONTAINER)
    assert r.data["volumes"]["db-data"]["driver_opts"] == {"type": "none", "o": "bind", "device": "/etc/db-data"}
    assert any("shared directory" in a and "no NFS" in a for a in r.adaptations)


def test_registry_port_export_path_and_stack_name_follow_lab_yaml():
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    data.update(registry_port=5555, export_path="/srv/db", stack_name="tunes")
    lab = cfg.parse(data, ROOT / "lab.yaml")
    r = stack.render(SOURCE, lab, VM)
    assert r.data["services"]["db"]["image"] == "192.168.56.10:5555/database"
    assert r.data["volumes"]["db-data"]["driver_opts"]["device"] == ":/srv/db"
    assert r.data["secrets"]["db_password"]["name"] == "tunes_db_password"
