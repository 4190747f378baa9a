"""Each lab keeps its nodes' SSH host keys, and checks them.

The first key a node shows is written to the lab's own known_hosts
(.lab/labs/<name>/known_hosts, mode 600): trust on first use, per lab. From
then on paramiko (and `invoke lab.ssh`, through OpenSSH) refuses any other key
at that address, so a machine that takes a node's place is named instead of
being given the swarm's secrets. The lab forgets a node's key only when it
makes that node anew (its machine did not exist before `vagrant up`), and all
of them on lab.destroy. The user's own ~/.ssh/known_hosts is never read or
written: nodes of many labs come and go on 127.0.0.1's ports.
"""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

import paramiko

from . import statefiles
from .runlog import LabError

FILE = "known_hosts"


def entry_name(hostname: str, port: int) -> str:
    """How known_hosts names an address (OpenSSH's and paramiko's form)."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


@contextlib.contextmanager
def _locked(path: Path, mode: str):
    statefiles.private_dir(path.parent)
    with open(path, mode, opener=statefiles.private_opener) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield f


def pin(path: Path, name: str, key: paramiko.PKey) -> paramiko.PKey | None:
    """Record `key` for `name` when the lab has no key for it yet. Returns the
    recorded key when it is another one (nothing is written then)."""
    with _locked(path, "a+") as f:
        f.seek(0)
        known = paramiko.HostKeys()
        for line in f.read().splitlines():
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
            if entry is not None:
                known.add(entry.hostnames[0], entry.key.get_name(), entry.key)
        recorded = known.lookup(name)
        if recorded:
            mine = recorded.get(key.get_name())
            return None if mine == key else (mine or next(iter(recorded.values())))
        f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        f.flush()
        return None


def forget(path: Path, names: list[str] | None = None) -> None:
    """Drop the keys of these addresses (all of them with None)."""
    if not path.exists():
        return
    with _locked(path, "r+") as f:
        kept = [] if names is None else [
            line for line in f.read().splitlines()
            if line.split(" ", 1)[0] not in names]
        f.seek(0)
        f.truncate()
        f.write("".join(f"{line}\n" for line in kept))


class PinFirstSeen(paramiko.MissingHostKeyPolicy):
    """paramiko asks this when the connection has no key for the address yet:
    the lab's file decides (records a first key, refuses another)."""

    def __init__(self, path: Path):
        self.path = path

    def missing_host_key(self, client, hostname, key):
        recorded = pin(self.path, hostname, key)
        if recorded is not None:
            raise paramiko.BadHostKeyException(hostname, key, recorded)
        client.get_host_keys().add(hostname, key.get_name(), key)


def mismatch(node: str, path: Path, error: paramiko.BadHostKeyException) -> LabError:
    return LabError(
        f"{node} answered with another SSH host key than the one this lab recorded for {error.hostname}",
        node=node,
        output=f"recorded: {error.expected_key.get_name()} {error.expected_key.get_fingerprint().hex()}\n"
               f"offered:  {error.key.get_name()} {error.key.get_fingerprint().hex()}",
        hint=f"another machine answers at that address, or {node} was re-created outside the lab "
             f"(vagrant destroy/up by hand): if you did that, remove the lines of {error.hostname} "
             f"from {path} and run the command again")


def openssh_options(path: Path) -> list[str]:
    """OpenSSH's flags for the same check (lab.ssh, the ssh lab's forwards):
    the lab's file only; a first key is added, another key is refused."""
    return ["-o", f"UserKnownHostsFile={path}", "-o", "StrictHostKeyChecking=accept-new",
            "-o", "HashKnownHosts=no", "-o", "GlobalKnownHostsFile=/dev/null"]
