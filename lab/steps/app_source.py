"""Tutorial step 2: get the app (compose/ and nginx/) onto the manager.

The course clones it from the internet; a classroom here has no network. The
lab keeps the app's source as a git repository on the manager itself (built
on the host from this checkout), so `git clone` works with nothing beyond the
lab. Any copy of the app in the trainee's home counts, however it got there.
"""
from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from . import Context, Problem

NAME = "app: the app's source on the manager"
REPOSITORY = "/srv/lab/musicapp.git"
# Where the solution clones it; the checks find a clone anywhere in the login
# user's home.
CLONE = "~/musicapp"
# A clone of the app holds at least these (relative to its top folder).
MARKERS = ("compose/docker-compose.yaml", "compose/backend/Dockerfile", "nginx/nginx-frontend.conf")
PARTS = ("compose", "nginx")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".env")


def teach(ctx: Context) -> list[tuple[str, str]]:
    m = ctx.config.manager.name
    return [(m, "sudo apt-get install -y git"), (m, f"git clone {REPOSITORY} {CLONE}")]


def home(ctx: Context) -> str:
    """The login user's home on the manager (vagrant on the lab's own nodes,
    whoever logs in on servers of the ssh provider); commands run under sudo."""
    out = ctx.manager_sh('getent passwd "${SUDO_USER:-$(id -un)}" | cut -d: -f6', check=False, teach=False)
    return out.stdout.strip() or "/home/vagrant"


def app_dir(ctx: Context) -> str | None:
    """The top folder of the trainee's copy of the app on the manager."""
    tests = " && ".join(f'[ -f "$d/{marker}" ]' for marker in MARKERS)
    out = ctx.manager_sh(f"find {shlex.quote(home(ctx))} -maxdepth 4 -path '*/compose/docker-compose.yaml' 2>/dev/null | sort "
                         f"| while read f; do d=${{f%/compose/docker-compose.yaml}}; {tests} && echo \"$d\"; done",
                         check=False, teach=False).stdout.split()
    return out[0] if out else None


def check(ctx: Context) -> list[str]:
    if app_dir(ctx):
        return []
    return [Problem("app_missing", node=ctx.config.manager.name, home=home(ctx), repository=REPOSITORY)]


def repository_tar(root: Path) -> bytes:
    """A bare git repository of the app (compose/ and nginx/ of this checkout),
    as a tar stream whose top folder is the repository's name."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        for part in PARTS:
            shutil.copytree(root / part, work / part, ignore=IGNORED)
        git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@localhost", "-c", "init.defaultBranch=main"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "musicapp, as the course hands it out"]):
            subprocess.run(git + args, cwd=work, check=True, capture_output=True)
        bare = Path(tmp) / Path(REPOSITORY).name
        subprocess.run(git + ["clone", "-q", "--bare", str(work), str(bare)], check=True, capture_output=True)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(bare, arcname=bare.name)
        return buf.getvalue()


def prepare(ctx: Context) -> None:
    """The repository the solution clones, owned by the trainee's user (git
    refuses to read a repository another user owns)."""
    parent = str(Path(REPOSITORY).parent)
    if ctx.manager_sh(f"test -d {REPOSITORY}/objects", check=False, teach=False).ok:
        return
    ctx.manager_sh(f'mkdir -p {parent} && tar -x -C {parent} && chown -R "${{SUDO_USER:-vagrant}}": {REPOSITORY}',
                   in_stream=io.BytesIO(repository_tar(ctx.config.root)), teach=False)


def solve(ctx: Context) -> None:
    prepare(ctx)
    install = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git"
    ctx.manager_sh(f"command -v git >/dev/null || {install}", teach=False, timeout=600)
    ctx.manager_sh(f"git clone -q {REPOSITORY} {CLONE}", sudo=False)


def apply(ctx: Context, step, missing) -> None:
    solve(ctx)
