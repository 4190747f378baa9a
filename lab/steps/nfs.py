"""Tutorial step 6: the manager exports a directory for the database's data.

With a kernel that has NFS (VMs), this is the tutorial's nfs-kernel-server.
Node containers here share a kernel without NFS: the stand-in is one host
directory mounted at the export path in every node (see the Vagrantfile),
named as such in the output and the run record.
"""
from __future__ import annotations

import secrets
from shlex import quote

from .. import texts
from ..remote import on_each
from ..runlog import LabError
from . import Context, Problem

NAME = "nfs: export the database directory from the manager"
STAND_IN = "shared directory (kernel has no NFS)"
PROBE_FILE = ".lab-shared-check"
TEST_MOUNT = "/mnt/lab-nfs-check"


OPTIONS = "rw,sync,no_subtree_check,no_root_squash"


def export_line(ctx: Context) -> str:
    # The tutorial exports to `*` (any host). With no_root_squash, root on any
    # machine that may mount the export owns the database's files: the lab
    # names its nodes one by one (why() says so in teaching mode), so a machine
    # that later takes an address in the lab network does not get them.
    clients = " ".join(f"{n.address}({OPTIONS})" for n in ctx.config.nodes)
    return f"{ctx.config.export_path} {clients}"


def why(ctx: Context, lang: str = "en") -> str | None:
    """Teaching mode's reason for naming the nodes (no export where the
    shared directory stands in)."""
    return texts.step("nfs", lang)["why"].strip() if ctx.caps.nfs else None


def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager.name
    path = ctx.config.export_path
    if not ctx.caps.nfs:
        # What works where the kernel has no NFS: look at the shared directory
        # that stands in for the export, and see a file cross from node to node.
        # It is PostgreSQL's data folder (mode 700, and initdb wants it empty):
        # read as root, and leave nothing behind.
        hello = quote(f"{path}/hello.txt")
        return [("every node", f"findmnt {quote(path)}"),
                (m, f"echo written-on-{m} | sudo tee {hello}"),
                ("every worker", f"sudo cat {hello}"),
                (m, f"sudo rm {hello}")]
    return [(m, "sudo apt-get install -y nfs-kernel-server"), (m, f"sudo mkdir -p {quote(ctx.config.export_path)}"),
            (m, f"echo {quote(export_line(ctx))} | sudo tee -a /etc/exports"), (m, "sudo exportfs -ra"),
            ("every worker", f"showmount -e {ctx.config.manager.address}")]


def stand_in(ctx: Context) -> str | None:
    return None if ctx.caps.nfs else STAND_IN


def check(ctx: Context) -> list[str]:
    return check_kernel_nfs(ctx) if ctx.caps.nfs else check_shared_dir(ctx)


def check_shared_dir(ctx: Context) -> list[str]:
    """Every node sees what the manager writes in the export path."""
    path = ctx.config.export_path
    probe = quote(f"{path}/{PROBE_FILE}")
    token = secrets.token_hex(8)
    wrote = ctx.manager_sh(f"test -d {quote(path)} && echo {token} > {probe}", check=False, teach=False)
    if not wrote.ok:
        return [Problem("nfs_dir_missing", node=ctx.config.manager.name, path=path)]
    seen = on_each(ctx.config.workers,
                   lambda w: ctx.sh(w.name, f"cat {probe}", check=False, teach=False).out)
    ctx.manager_sh(f"rm -f {probe}", teach=False)
    return [Problem("nfs_not_shared", node=w.name, path=path)
            for w, text in zip(ctx.config.workers, seen) if text != token]


def check_kernel_nfs(ctx: Context) -> list[str]:
    m = ctx.config.manager
    path = ctx.config.export_path
    exports = ctx.manager_sh("exportfs -v 2>/dev/null", check=False, teach=False).out
    if path not in exports:
        return [Problem("nfs_not_exported", node=m.name, path=path)]
    problems = []
    for w in ctx.config.workers:
        shown = ctx.sh(w.name, f"showmount -e {m.address}", check=False, teach=False)
        if path not in shown.out:
            problems.append(Problem("nfs_showmount", node=w.name, path=path, address=m.address))
    if problems:
        return problems
    first, second = ctx.config.workers[0], ctx.config.workers[-1]
    token = secrets.token_hex(8)
    mount = f"mkdir -p {TEST_MOUNT} && mount -t nfs -o nolock,soft {quote(f'{m.address}:{path}')} {TEST_MOUNT}"
    wrote = ctx.sh(first.name, f"{mount} && echo {token} > {TEST_MOUNT}/{PROBE_FILE}; "
                               f"r=$?; umount {TEST_MOUNT}; exit $r", check=False, teach=False)
    read = ctx.sh(second.name, f"{mount} && cat {TEST_MOUNT}/{PROBE_FILE}; r=$?; "
                               f"rm -f {TEST_MOUNT}/{PROBE_FILE}; umount {TEST_MOUNT}; exit $r",
                  check=False, teach=False)
    if not wrote.ok or read.out != token:
        return [Problem("nfs_roundtrip", node=second.name, first=first.name)]
    return []


def apply(ctx: Context, step, missing) -> None:
    if not ctx.caps.nfs:
        # Nothing to change from inside: the directory is mounted when the nodes
        # are created. A node missing it was created by hand or another Vagrantfile.
        raise LabError(f"{'; '.join(missing)}",
                       hint="recreate the nodes: invoke lab.nodes.destroy && invoke lab.up")
    for node, command in teach(ctx):
        ctx.run.show_command(node, command)
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
    line = export_line(ctx)
    path = quote(ctx.config.export_path)
    # An earlier line for the same path (an older lab exported to the whole
    # network) is replaced, not kept beside the narrower one.
    ctx.manager_sh(
        f"{install} nfs-kernel-server && mkdir -p {path} && touch /etc/exports && "
        f"awk -v p={path} '$1 != p' /etc/exports > /etc/exports.lab && "
        f"echo {quote(line)} >> /etc/exports.lab && mv /etc/exports.lab /etc/exports && "
        f"systemctl enable --now nfs-server && exportfs -ra", teach=False, timeout=900)
    on_each(ctx.config.workers, lambda w: ctx.sh(w.name, f"{install} nfs-common", teach=False, timeout=900))
    step.detail = f"exported {ctx.config.export_path} to {', '.join(n.address for n in ctx.config.nodes)}"
