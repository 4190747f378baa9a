"""Shared by the test folders that bring real nodes up: a command on a node,
as root, through the lab's own Fabric connection."""
import shlex

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
