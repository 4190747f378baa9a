"""State files are written whole or not at all: a crash mid-write (played by
a failing fsync) leaves the old file, and no temporary file behind."""
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from lab import commands, config as cfg, nodes, providers, statefiles
from lab.runlog import Run

ROOT = Path(__file__).resolve().parents[2]
SSH_CONFIG = "".join(f"Host {n}\n  HostName 127.0.0.1\n  Port {2200 + i}\n  User vagrant\n  IdentityFile /k\n"
                     for i, n in enumerate(["manager", "worker1", "worker2", "worker3"]))


@pytest.fixture
def config(tmp_path):
    shutil.copy(ROOT / "lab.yaml", tmp_path / "lab.yaml")
    return cfg.load(tmp_path / "lab.yaml")


def crash_on_fsync(monkeypatch):
    def fsync(fd):
        raise OSError("disk gone")
    monkeypatch.setattr(os, "fsync", fsync)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_replaces_the_file_mode_600(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    path.chmod(0o644)
    statefiles.write_atomic(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path) == []


def test_provider_json_survives_a_crash_mid_write(config, monkeypatch):
    state = nodes.own_dir(config) / "provider.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"provider": "docker", "why": "before"}\n')
    monkeypatch.setattr(providers, "choose", lambda c: providers.Choice(providers.get("libvirt"), "after"))
    crash_on_fsync(monkeypatch)
    with pytest.raises(OSError, match="disk gone"):
        commands.provider_for(config, SimpleNamespace(note=lambda text: None))
    assert json.loads(state.read_text())["why"] == "before"
    assert leftovers(state.parent) == []


def test_the_kept_ssh_config_survives_a_crash_mid_write(config, monkeypatch):
    path = nodes.ssh_config_path(config)
    path.parent.mkdir(parents=True)
    path.write_text(SSH_CONFIG)
    crash_on_fsync(monkeypatch)
    changed = SSH_CONFIG.replace("Port 2200", "Port 2299")
    with pytest.raises(OSError, match="disk gone"):
        nodes.fresh_cluster(config, None, SimpleNamespace(ssh_config=lambda config, vg: changed))
    assert path.read_text() == SSH_CONFIG
    assert leftovers(path.parent) == []
    monkeypatch.undo()
    nodes.fresh_cluster(config, None, SimpleNamespace(ssh_config=lambda config, vg: changed)).close()
    assert path.read_text() == changed


def test_run_json_survives_a_crash_mid_write(tmp_path, monkeypatch):
    run = Run(tmp_path, "up", console=Console(file=open(tmp_path / "out", "w")))
    crash_on_fsync(monkeypatch)
    with pytest.raises(OSError, match="disk gone"):
        run.finish("ok")
    assert json.loads((run.dir / "run.json").read_text())["result"] == "running"
    assert leftovers(run.dir) == []
