"""Shared by the test folders that bring real nodes up: a command on a node,
as root, through the lab's own Fabric connection."""
import os
import shlex
import subprocess
import sys

from lab import nodes


def on(cluster, node, command, ok=True, timeout=None):
    """Run `command` on `node` as root; its stdout. With ok, assert it succeeded."""
    r = cluster[node].run(f"sudo sh -c {shlex.quote(command)}", hide=True, warn=True, timeout=timeout)
    if ok:
        assert r.ok, f"{node}: {command}\n{r.stdout}{r.stderr}"
    return r.stdout.strip()


def kept_cluster(config):
    """For a session fixture: the lab's Fabric connections, closed at the end."""
    c = nodes.kept_cluster(config)
    assert c is not None, "lab.up left no ssh-config"
    yield c
    c.close()


def listing(*argv, cwd=None) -> list[str]:
    """The words a host command prints; its failure fails the test (a listing
    that could not be made must not read as "nothing there")."""
    out = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, f"{' '.join(argv)} exited {out.returncode}: {out.stderr}"
    return out.stdout.split()


def invoke_task(root, *args, config=None, check=True, env=None, timeout=1800):
    """`invoke` of the lab in `root` (with --config when given), as a trainer types it;
    a failure shows its output unless check=False."""
    argv = [sys.executable, "-m", "invoke", *args] + (["--config", str(config)] if config else [])
    result = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, **(env or {})))
    if check and result.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def interruptible():
    """Popen(preexec_fn=interruptible) for a command a test interrupts with
    SIGINT: a test run started in the background by a shell without job
    control ignores SIGINT, children inherit that, and Python then never
    raises KeyboardInterrupt (the command would run to its end)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
