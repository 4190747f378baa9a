"""The stack step's tick says what it did, with the manager's answers played
by a small fake swarm that changes as the commands it receives would."""
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from lab import config as cfg, stack
from lab.probe import Capabilities
from lab.runlog import Run
from lab.steps import Context, deploy

ROOT = Path(__file__).resolve().parents[2]
CAPS = Capabilities(ipvs=False, nfs_client=False, nfs_server=False, memory_mb=4096, cgroup=1, own_resolver=False)
DIGESTS = "docker-content-digest: sha256:0123\n"


class Swarm:
    """The manager's side: services and their replicas, the secrets, the stamp."""

    def __init__(self, rows: dict[str, str], secrets: bool, stamp: str = ""):
        self.rows, self.secrets, self.stamp, self.sent = rows, secrets, stamp, []
        self.full = {}

    def __call__(self, command, **_):
        self.sent.append(command)
        out = ""
        if command.startswith("docker secret ls"):
            out = "\n".join(f"musicapp_{n}" for n in deploy.SECRETS) if self.secrets else ""
        elif command.startswith("cat /var/lib/lab-stack.sha256"):
            out = self.stamp
        elif command.startswith("for u in"):
            out = DIGESTS
        elif command.startswith("docker stack services"):
            out = "\n".join(json.dumps({"Name": f"musicapp_{n}", "Replicas": r}) for n, r in self.rows.items())
        elif command.startswith("docker service update --force --detach musicapp_"):
            name = command.rsplit("_", 1)[1]
            self.rows[name] = self.full[name]
        elif command.startswith("docker stack deploy"):
            self.rows = dict(self.full)
        elif command.startswith("echo ") and command.endswith(deploy.STAMP):
            self.stamp = command.split()[1]
        return SimpleNamespace(stdout=out, ok=True, out=out.strip())


def context(tmp_path, swarm):
    config = cfg.load(ROOT / "lab.yaml")
    run = Run(tmp_path, "up", console=Console(file=open(tmp_path / "out", "w")))
    ctx = Context(config, {}, CAPS, run, "", tmp_path)
    ctx.manager_sh = swarm
    rendered = deploy.render(ctx)
    wanted = stack.expected_replicas(rendered, workers=len(config.workers))
    swarm.full = {n: f"{w}/{w}" for n, w in wanted.items()}
    return ctx, rendered


def test_a_first_deploy_says_deployed_and_how_many_services_run(tmp_path, monkeypatch):
    monkeypatch.setenv(deploy.CONVERGE_ENV, "5")
    swarm = Swarm({}, secrets=False)
    ctx, rendered = context(tmp_path, swarm)
    deploy.converge(ctx)
    step = ctx.run.steps[-1]
    assert step.outcome == "changed"
    assert step.detail == f"secrets created; deployed, {len(rendered.services)} services at full replicas"
    assert any(c.startswith("docker stack deploy") for c in swarm.sent)


def test_after_a_restart_it_names_the_services_whose_stopped_tasks_it_replaced(tmp_path, monkeypatch):
    # A failure here is the fake swarm not converging: no need to wait 300 s for it.
    monkeypatch.setenv(deploy.CONVERGE_ENV, "5")
    swarm = Swarm({}, secrets=True)
    ctx, rendered = context(tmp_path, swarm)
    swarm.stamp = hashlib.sha256((rendered.text + DIGESTS.lower()).encode()).hexdigest()
    swarm.rows = dict(swarm.full, backend="1/2", db="0/1")
    deploy.converge(ctx)
    step = ctx.run.steps[-1]
    assert step.outcome == "changed"
    assert step.detail == (f"replaced stopped tasks of db, backend, {len(rendered.services)} services "
                           "at full replicas")
    assert {"docker service update --force --detach musicapp_backend",
            "docker service update --force --detach musicapp_db"} <= set(swarm.sent)
    assert not any(c.startswith("docker stack deploy") for c in swarm.sent)
