"""The NFS export names the lab's nodes, not the whole network (issue 15),
and teaching mode says why, in both languages."""
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from lab import config as cfg
from lab.probe import Capabilities
from lab.runlog import Run
from lab.steps import Context, converge, nfs

ROOT = Path(__file__).resolve().parents[2]
VMS = Capabilities(ipvs=True, nfs_client=True, nfs_server=True, memory_mb=4096, cgroup=2, own_resolver=True)
CONTAINERS = Capabilities(ipvs=False, nfs_client=False, nfs_server=False, memory_mb=4096, cgroup=1, own_resolver=False)


def context(tmp_path, caps, explain=False):
    config = cfg.load(ROOT / "lab.yaml")
    out = tmp_path / "out"
    run = Run(tmp_path, "up", explain=explain, console=Console(file=open(out, "w"), width=300))
    return Context(config, {}, caps, run, "", tmp_path), out


def test_the_export_line_names_every_node_and_not_the_network(tmp_path):
    ctx, _ = context(tmp_path, VMS)
    line = nfs.export_line(ctx)
    path, *clients = line.split()
    assert path == ctx.config.export_path
    assert clients == [f"{n.address}(rw,sync,no_subtree_check,no_root_squash)" for n in ctx.config.nodes]
    assert str(ctx.config.network) not in line and "*" not in line
    typed = dict((cmd, node) for node, cmd in nfs.teach(ctx))
    assert any(line in cmd for cmd in typed), typed


def test_teaching_mode_gives_the_reason_in_the_trainees_language(tmp_path, monkeypatch):
    for lang, words in (("en", "no_root_squash"), ("id", "menguasai berkas database")):
        monkeypatch.setenv("LAB_LANG", lang)
        (tmp_path / lang).mkdir()
        ctx, out = context(tmp_path / lang, VMS, explain=True)
        monkeypatch.setattr(nfs, "check", lambda ctx: [])
        converge(ctx, nfs)
        ctx.run.console.file.flush()
        shown = out.read_text()
        assert words in shown and "exportfs -ra" in shown, shown


def test_no_reason_where_the_shared_directory_stands_in(tmp_path, monkeypatch):
    ctx, out = context(tmp_path, CONTAINERS, explain=True)
    monkeypatch.setattr(nfs, "check", lambda ctx: [])
    converge(ctx, nfs)
    ctx.run.console.file.flush()
    assert "no_root_squash" not in out.read_text()


def test_apply_replaces_an_older_line_for_the_path(tmp_path):
    ctx, _ = context(tmp_path, VMS)
    sent = []
    ctx.manager_sh = lambda command, **kw: sent.append(command) or SimpleNamespace(ok=True, out="", stdout="")
    ctx.sh = lambda node, command, **kw: SimpleNamespace(ok=True, out="", stdout="")
    nfs.apply(ctx, SimpleNamespace(detail=""), ["not exported"])
    assert len(sent) == 1 and "awk -v p=/etc/db-data '$1 != p' /etc/exports" in sent[0], sent
