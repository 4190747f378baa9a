"""The run record: what lab.status and lab.report read back."""
import json
from pathlib import Path

from rich.console import Console

from lab.runlog import Run


def test_run_json_keeps_the_start_time_and_the_result(tmp_path):
    run = Run(tmp_path, "up", console=Console(file=open(tmp_path / "out", "w")))
    with run.step("a step") as step:
        step.changed("done")
    run.finish("ok")
    meta = json.loads((run.dir / "run.json").read_text())
    assert meta["started"] == run.started.isoformat()
    assert meta["updated"] > meta["started"]
    assert meta["result"] == "ok" and meta["steps"] == 1 and meta["command"] == "up"
    assert (tmp_path / "runs" / "latest").resolve() == run.dir.resolve()


def test_two_labs_in_one_folder_keep_their_own_last_run_and_machines(tmp_path):
    from lab import commands, config as cfg, nodes
    root = Path(__file__).resolve().parents[2]
    quiet = Console(file=open(tmp_path / "out", "w"))
    (tmp_path / "runs").mkdir()
    old = Run(tmp_path, "up", console=quiet)  # before run.json named its lab
    old.finish("ok")
    docker = Run(tmp_path, "up", console=quiet, lab="swarmlab")
    docker.finish("ok")
    vms = Run(tmp_path, "check", console=quiet, lab="vmlab")
    vms.finish("failed")
    assert commands.last_run(tmp_path, "swarmlab")["dir"] == str(docker.dir)
    assert commands.last_run(tmp_path, "vmlab")["result"] == "failed"
    assert commands.last_run(tmp_path, "other")["dir"] == str(old.dir)
    assert (tmp_path / "runs" / "latest-swarmlab").resolve() == docker.dir.resolve()
    assert (tmp_path / "runs" / "latest").resolve() == vms.dir.resolve()
    default, second = cfg.load(root / "lab.yaml"), cfg.load(root / "lab.libvirt.yaml")
    assert nodes.vagrant_dotfile(default) == root / ".vagrant"
    assert nodes.vagrant_dotfile(second) == root / ".vagrant-vmlab"
    assert nodes.ssh_config_path(default) != nodes.ssh_config_path(second)
