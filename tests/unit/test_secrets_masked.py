"""The swarm join token never reaches run.log, the run record or an error
message; .lab is its owner's only. The worker's join fails here, as it would
with a network fault, so the error path shows everything it would show."""
import shlex
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from lab import commands, config as cfg, nodes
from lab.runlog import LabError, Run
from lab.steps import Context, converge, swarm

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"


class Node:
    """A Fabric connection's run(), answering as a swarm manager or a new worker."""

    def __init__(self, name, config):
        self.name, self.config = name, config

    def run(self, wrapped, **_):
        command = shlex.split(wrapped)[-1]
        manager = self.name == self.config.manager.name
        if command == swarm.INFO:
            out = ('{"LocalNodeState":"active","ControlAvailable":true,"NodeAddr":"%s","Cluster":{"ID":"c1"}}'
                   % self.config.manager.address) if manager else '{"LocalNodeState":"inactive"}'
        elif command.startswith("docker node ls"):
            out = '{"Hostname":"manager","Status":"Ready","Availability":"Active","ID":"m1","Self":true}'
        elif command == "docker swarm join-token -q worker":
            out = TOKEN + "\n"
        elif command.startswith("docker swarm join "):
            return SimpleNamespace(return_code=1, stdout="",
                                   stderr=f"Error response from daemon: {command}: context deadline exceeded\n")
        else:
            out = ""
        return SimpleNamespace(return_code=0, stdout=out, stderr="")


@pytest.fixture
def config(tmp_path):
    shutil.copy(ROOT / "lab.yaml", tmp_path / "lab.yaml")
    (tmp_path / ".lab").mkdir(mode=0o755)  # made before .lab was private
    return cfg.load(tmp_path / "lab.yaml")


def test_a_failed_join_names_the_command_without_the_token(config, capsys):
    cluster = {n.name: Node(n.name, config) for n in config.nodes}
    with pytest.raises(SystemExit) as exit_:
        with commands.lab_run(config, "cluster", explain=True) as run:
            converge(Context(config, cluster, None, run, "", nodes.state_dir(config)), swarm)
    assert exit_.value.code == 1
    shown = capsys.readouterr().out
    assert "docker swarm join --token <worker token> --advertise-addr" in shown
    files = {p.name: p.read_text() for p in run.dir.iterdir()}
    assert {"run.log", "steps.jsonl", "run.json"} <= set(files)
    assert "docker swarm join --token <worker token>" in files["run.log"]
    assert "<swarm token>" in files["run.log"]  # the join-token output, read before the lab knew it
    for where, text in {"output": shown, **files}.items():
        assert TOKEN not in text and "SWMTKN" not in text, where


def test_any_secret_a_run_is_told_of_is_masked_everywhere(tmp_path):
    out = tmp_path / "console"
    run = Run(tmp_path, "up", explain=True, console=Console(file=out.open("w"), soft_wrap=True))
    run.hide("hunter2-secret", "<db password>")
    run.show_command("manager", "echo hunter2-secret | docker secret create db -")
    run.note("set hunter2-secret")
    with pytest.raises(LabError):
        with run.step("a step") as step:
            raise LabError("failed with hunter2-secret", command="x hunter2-secret",
                           output="hunter2-secret", hint="hunter2-secret")
    run.fail(LabError("again hunter2-secret", command="y hunter2-secret", output="hunter2-secret"))
    run.finish("failed")
    texts = [out.read_text()] + [p.read_text() for p in run.dir.iterdir()]
    assert all("hunter2-secret" not in t for t in texts)
    assert "<db password>" in texts[0] and "<db password>" in (run.dir / "run.log").read_text()
    assert step.detail == "failed with <db password>"


def test_the_state_folder_is_private_and_so_are_the_run_files(config):
    with commands.lab_run(config, "check") as run:
        pass
    assert (nodes.state_dir(config).stat().st_mode & 0o777) == 0o700
    for name in ("run.log", "steps.jsonl", "run.json"):
        assert ((run.dir / name).stat().st_mode & 0o777) == 0o600, name
