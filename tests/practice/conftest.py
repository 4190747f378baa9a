"""Guided practice on the real nodes: the trainee's side, typed over SSH as
the `vagrant` user exactly as the lab shows it, and the lab's side (check,
hint, solve, status) through the README's invoke commands.

It re-creates the nodes of lab.yaml's lab (or LAB_CONFIG's) bare, so it runs
after tests/lab, and destroys them at the end."""
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab import config as cfg, nodes
from lab.steps import swarm

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = Path(os.environ.get("LAB_CONFIG") or ROOT / "lab.yaml").resolve()


def invoke(*args, check=True, timeout=1800):
    result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout, env=dict(os.environ, LAB_CONFIG=str(CONFIG_PATH)),
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def config():
    return cfg.load(CONFIG_PATH)


class Trainee:
    """Types on the nodes as the vagrant user, the way a trainee does."""

    def __init__(self, config):
        self.config = config
        self.copied: dict[str, str] = {}
        self.cluster = None

    def connect(self):
        if self.cluster:
            self.cluster.close()
        self.cluster = nodes.kept_cluster(self.config)
        assert self.cluster is not None, "no ssh-config: the nodes are not up"

    def run(self, node, command, ok=True, timeout=900):
        if self.cluster is None:
            self.connect()
        r = self.cluster[node].run(command, hide=True, warn=True, timeout=timeout, pty=False)
        if ok:
            assert r.ok, f"{node}$ {command}\n{r.stdout}{r.stderr}"
        return r.stdout.strip()

    def root(self, node, command, ok=True):
        return self.run(node, f"sudo sh -c {shlex.quote(command)}", ok=ok)

    def targets(self, node):
        if node == "every node":
            return [n.name for n in self.config.nodes]
        if node == "every worker":
            return [n.name for n in self.config.workers]
        return [node]

    def type(self, lines):
        """Each (node, command) as shown; what a trainee copies from one
        command's output into a later one (the join token) is copied here too."""
        assert lines, "a solution with no command"
        for node, command in lines:
            for placeholder, value in self.copied.items():
                command = command.replace(placeholder, value)
            assert "<" not in command or "<ip-manager>" in command, f"a placeholder left in {command!r}"
            if node == "host":
                done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, f"host$ {command}\n{done.stdout}{done.stderr}"
                continue
            targets = self.targets(node)
            with ThreadPoolExecutor(len(targets)) as pool:
                outputs = list(pool.map(lambda n: self.run(n, command), targets))
            if command == swarm.TOKEN_COMMAND:
                self.copied[swarm.TOKEN] = outputs[0]


@pytest.fixture(scope="session")
def trainee(config):
    t = Trainee(config)
    yield t
    if t.cluster:
        t.cluster.close()


def status():
    return {s["key"]: s for s in json.loads(invoke("lab.practice.status", "--json").stdout)["steps"]}


def solution():
    """The current step's solution, as the third hint shows it."""
    answers = [json.loads(invoke("lab.practice.hint", "--json").stdout) for _ in range(3)]
    assert [a["level"] for a in answers] == [1, 2, 3]
    assert answers[0]["hint"] and answers[1]["hint"] and "solution" not in answers[1]
    return [tuple(line) for line in answers[2]["solution"]]


def check(expect_done):
    result = invoke("lab.practice.check", check=False)
    assert result.returncode == (0 if expect_done else 1), result.stdout + result.stderr
    return result.stdout
