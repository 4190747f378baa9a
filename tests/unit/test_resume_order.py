"""Resume on the docker provider: the manager's node starts and boots before
the workers' (a worker engine that comes up first misses the swarm's gossip
for a minute). `docker start` and SSH are faked here; tests/lab/test_resume.py
does a real lab.down and lab.up."""
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab import resume
from lab.config import load

ROOT = Path(__file__).resolve().parents[2]


class Host:
    """Node containers that boot when started; records what happened, in order."""

    def __init__(self):
        self.events = []
        self.up = set()

    def run(self, argv, **kw):
        names = [a.split("-", 1)[1] for a in argv[2:]]
        self.events.append(("start", tuple(names)))
        self.up.update(names)
        return subprocess.CompletedProcess(argv, 0, "", "")

    def booted(self, conn):
        if conn in self.up:
            self.events.append(("booted", conn))
            return True
        return False


@pytest.fixture
def host(monkeypatch):
    h = Host()
    monkeypatch.setattr(resume.subprocess, "run", h.run)
    monkeypatch.setattr(resume, "booted", h.booted)
    return h


def start(config, states):
    run = SimpleNamespace(show_command=lambda *a: None, log=lambda *a: None)
    step = SimpleNamespace(changed=lambda detail: setattr(step, "detail", detail), detail="")
    cluster = {n.name: n.name for n in config.nodes}
    return resume.start_stopped(config, cluster, run, step, states), step


def test_the_manager_boots_before_any_worker_starts(host):
    config = load(ROOT / "lab.yaml")
    ok, step = start(config, {n.name: False for n in config.nodes})
    assert ok
    workers = tuple(n.name for n in config.workers)
    assert host.events[:2] == [("start", (config.manager.name,)), ("booted", config.manager.name)]
    assert host.events[2] == ("start", workers)
    assert {e[1] for e in host.events[3:]} == set(workers)
    assert "then the others at once" in step.detail


def test_stopped_workers_with_the_manager_running_start_at_once(host):
    config = load(ROOT / "lab.yaml")
    host.up.add(config.manager.name)
    ok, _ = start(config, {n.name: n.role == "manager" for n in config.nodes})
    assert ok
    assert host.events[0] == ("start", tuple(n.name for n in config.workers))


def test_a_node_that_never_boots_leaves_it_to_vagrant(host, monkeypatch):
    config = load(ROOT / "lab.yaml")
    monkeypatch.setattr(resume, "BOOT_SECONDS", 0.3)
    monkeypatch.setattr(resume, "booted", lambda conn: False)
    ok, _ = start(config, {n.name: False for n in config.nodes})
    assert not ok
    # The workers were never started after the manager did not boot.
    assert host.events == [("start", (config.manager.name,))]


def test_a_running_node_slow_to_answer_is_waited_for_as_the_started_ones(host, monkeypatch):
    config = load(ROOT / "lab.yaml")
    calls = {"manager": 0}
    started_boot = host.booted

    def booted(conn):
        if conn == config.manager.name:
            calls["manager"] += 1
            return calls["manager"] >= 3   # its sshd answers at the third try
        return started_boot(conn)
    monkeypatch.setattr(resume, "booted", booted)
    monkeypatch.setattr(resume.time, "sleep", lambda s: None)
    ok, _ = start(config, {n.name: n.role == "manager" for n in config.nodes})
    assert ok and calls["manager"] == 3
