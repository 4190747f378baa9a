"""provider: ssh on four stand-in servers: up, check, destroy that leaves the
servers running with nothing of the lab on them (seen with docker exec)."""
import json
import time
import urllib.request

from lab import host

from .conftest import ROOT, invoke, on_server

TIMINGS = ROOT / ".lab" / "sshlab" / "timings.json"


def record(key, seconds):
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    data[key] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(data, indent=2) + "\n")


def test_lab_up_cold_then_warm_on_the_servers(servers):
    started = time.monotonic()
    cold = invoke("lab.up")
    record("up_cold", time.monotonic() - started)
    out = cold.stdout
    assert "provider: ssh (set in lab.ssh.yaml)" in out
    assert "servers: SSH, OS and sudo" in out and "debian 12" in out
    assert "every node reaches every other" in out
    assert "vagrant up" not in out
    started = time.monotonic()
    warm = invoke("lab.up")
    record("up_warm", time.monotonic() - started)
    assert "checked on an earlier lab.up for these servers" in warm.stdout
    rows = on_server("manager", "docker node ls --format '{{.Hostname}} {{.Status}}'").stdout.split("\n")
    assert sorted(r for r in rows if r) == [f"{n.name} Ready" for n in servers.nodes]


def test_the_app_answers_on_127_through_the_forward(servers):
    for url in (f"{servers.web_url}login", f"{servers.api_url}health"):
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200, url


def test_lab_check_is_green(servers):
    result = invoke("lab.check")
    assert "checks passed" in result.stdout


def test_destroy_leaves_the_servers_running_with_nothing_of_the_lab(servers):
    result = invoke("lab.destroy")
    assert "no server was deleted" in result.stdout
    registry = servers.registry
    for n in servers.nodes:
        state = on_server(n.name, "true")
        assert state.returncode == 0, f"{n.name} is no longer running"
        swarm = on_server(n.name, "docker info --format '{{.Swarm.LocalNodeState}}'")
        assert swarm.returncode == 0 and swarm.stdout.strip() == "inactive", (n.name, swarm.stdout, swarm.stderr)
        containers = on_server(n.name, "docker ps -aq")
        assert containers.returncode == 0 and containers.stdout.strip() == "", (n.name, containers.stdout)
        daemon = on_server(n.name, "cat /etc/docker/daemon.json 2>/dev/null || echo '{}'")
        assert daemon.returncode == 0
        settings = json.loads(daemon.stdout)
        assert registry not in settings.get("insecure-registries", []), (n.name, settings)
        assert host.host_resolver() not in settings.get("dns", []), (n.name, settings)
        assert on_server(n.name, "command -v dockerd").returncode == 0, f"docker.io went from {n.name} without --all"
    exports = on_server("manager", "cat /etc/exports 2>/dev/null || true").stdout
    assert servers.export_path + " " not in exports
    assert host.port_free(servers.host_ports.web) and host.port_free(servers.host_ports.api)
