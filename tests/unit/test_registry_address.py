"""The registry is published on the manager's lab address only (issue 15),
and its check still accepts the tutorial's plain -p 4000:5000."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from lab import config as cfg
from lab.probe import Capabilities
from lab.runlog import Run
from lab.steps import Context, registry

ROOT = Path(__file__).resolve().parents[2]
CAPS = Capabilities(ipvs=False, nfs_client=False, nfs_server=False, memory_mb=4096, cgroup=1, own_resolver=False)


def context(tmp_path, ports: str):
    """The manager's `docker ps` shows one registry with these Ports; every
    node reads the catalog."""
    config = cfg.load(ROOT / "lab.yaml")
    run = Run(tmp_path, "up", console=Console(file=open(tmp_path / "out", "w")))
    ctx = Context(config, {}, CAPS, run, "", tmp_path)

    def sh(node, command, **_):
        if command.startswith("docker ps --filter ancestor="):
            out = f"registry\t{ports}"
        elif "_catalog" in command:
            out = json.dumps({"repositories": []})
        else:
            out = ""
        return SimpleNamespace(stdout=out, out=out, ok=True)

    ctx.sh = sh
    ctx.manager_sh = lambda command, **kw: sh(config.manager.name, command, **kw)
    return ctx


def test_the_lab_publishes_the_registry_on_the_managers_address_only(tmp_path):
    ctx = context(tmp_path, "")
    line = registry.run_command(ctx)
    assert f" -p {ctx.config.manager.address}:{ctx.config.registry_port}:5000 " in line
    assert dict(registry.teach(ctx))[ctx.config.manager.name] == line


@pytest.mark.parametrize("ports", [
    "192.168.56.10:4000->5000/tcp",                      # the lab's own line
    "0.0.0.0:4000->5000/tcp, :::4000->5000/tcp",          # the tutorial's -p 4000:5000
    "0.0.0.0:4000->5000/tcp",
])
def test_the_check_accepts_the_labs_and_the_tutorials_form(tmp_path, ports):
    assert registry.check(context(tmp_path, ports)) == []


@pytest.mark.parametrize("ports", [
    "127.0.0.1:4000->5000/tcp",        # the nodes cannot reach the manager's loopback
    "192.168.56.99:4000->5000/tcp",    # an address that is not the manager's
    "0.0.0.0:5000->5000/tcp",          # another port
    "0.0.0.0:4000->5001/tcp",
    "",
])
def test_the_check_names_a_registry_the_nodes_cannot_reach(tmp_path, ports):
    problems = registry.check(context(tmp_path, ports))
    assert [p.key for p in problems] == ["registry_wrong_port"]
    assert "does not publish port 4000" in problems[0]
