"""Values from lab.yaml reach shells on the nodes: they are quoted there too,
not only validated, so a value that slips past validation is still one word.
The nodes' shell is played by a real local `sh`."""
import dataclasses
import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace

from lab import config as cfg
from lab.steps import nfs

ROOT = Path(__file__).resolve().parents[2]


class LocalShell:
    """Runs each command as a node would (sh -c), in a scratch folder."""

    def __init__(self, cwd: Path):
        self.cwd, self.commands = cwd, []

    def __call__(self, command, **_):
        self.commands.append(command)
        r = subprocess.run(["sh", "-c", command], cwd=self.cwd, capture_output=True, text=True, timeout=10)
        return SimpleNamespace(ok=r.returncode == 0, out=r.stdout.strip(), stdout=r.stdout)


def context(tmp_path, export_path):
    # dataclasses.replace skips the validation on purpose: the quoting must hold alone.
    config = dataclasses.replace(cfg.load(ROOT / "lab.yaml"), export_path=export_path)
    shell = LocalShell(tmp_path)
    return SimpleNamespace(config=config, manager_sh=shell, sh=lambda node, command, **kw: shell(command, **kw)), shell


def test_the_shared_directory_check_treats_a_hostile_path_as_one_word(tmp_path):
    path = tmp_path / "db;touch pwned1 $(touch pwned2) `touch pwned3` 'q\"uote"
    path.mkdir()
    ctx, shell = context(tmp_path, str(path))
    assert nfs.check_shared_dir(ctx) == []
    assert len(shell.commands) == 2 + len(ctx.config.workers)
    assert not list(tmp_path.glob("pwned*"))
    assert list(path.iterdir()) == []  # the probe file was written there and removed


def test_the_export_commands_keep_the_path_and_the_exports_line_whole(tmp_path):
    hostile = "/srv/db;reboot $(reboot) 'x"
    ctx, _ = context(tmp_path, hostile)
    sent = []
    ctx.manager_sh = lambda command, **kw: sent.append(command)
    ctx.sh = lambda node, command, **kw: None
    ctx.caps = SimpleNamespace(nfs=True)
    ctx.run = SimpleNamespace(show_command=lambda node, command: None)
    nfs.apply(ctx, SimpleNamespace(detail=None), ["not exported"])
    assert len(sent) == 1
    words = shlex.split(sent[0])
    line = nfs.export_line(ctx)
    assert words[words.index("mkdir") + 2] == hostile
    assert words[words.index("awk") + 2] == f"p={hostile}"
    assert words[words.index("echo") + 1] == line and line.startswith(hostile + " ")
    for _, command in nfs.teach(ctx):
        if "mkdir" in command:
            assert shlex.split(command)[-1] == hostile
