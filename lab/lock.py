"""One command at a time on a lab.

Two lab.up runs on one lab would race each other on the same nodes, swarm
and records. Every command that changes the lab holds an flock on a file in
the lab's own folder (.lab/labs/<name>/lock) and writes its pid and command
there, so a second one is refused at once and told who holds it. The kernel
drops the flock when its process dies, however it dies: a lock left by a dead
command is taken over, and the lab says so. Read-only commands (status,
report) take no lock.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from .runlog import LabError

LOCK_FILE = "lock"
# Locks this process holds, with how deep: a command that runs another
# command of the same lab in-process holds the lock already.
_held: dict[Path, int] = {}


class LabLock:
    def __init__(self, folder: Path, command: str):
        self.path = folder / LOCK_FILE
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> dict | None:
        """Take the lock or raise a LabError naming its holder. Returns what a
        dead holder left in the file (a lock taken over), else None."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        if key in _held:
            _held[key] += 1
            return None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._refusal() from None
        left = _parse(os.pread(fd, 4096, 0))
        mine = {"pid": os.getpid(), "command": self.command,
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(mine) + "\n").encode(), 0)
        self._fd = fd
        _held[key] = 1
        # A holder that ended normally emptied the file: what is left is a dead one's.
        return left if left and left.get("pid") != os.getpid() else None

    def release(self) -> None:
        key = self.path.resolve()
        _held[key] -= 1
        if _held[key] or self._fd is None:
            return
        del _held[key]
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the file drops the flock
        self._fd = None

    def _refusal(self) -> LabError:
        holder = None
        # The holder writes its name just after taking the lock: give it a moment.
        for _ in range(20):
            holder = _parse(self.path.read_bytes())
            if holder:
                break
            time.sleep(0.05)
        holder = holder or {}
        pid, command = holder.get("pid", "?"), holder.get("command", "another command")
        since = f", since {holder['since']}" if holder.get("since") else ""
        gone = isinstance(pid, int) and not alive(pid)
        hint = (f"a process that pid {pid} started still holds {self.path}; `fuser -v {self.path}` names it"
                if gone else f"wait for it to finish, or stop it (kill {pid}); "
                             "lab.status and lab.report only read and run any time")
        return LabError(f"this lab is busy: `invoke {command}` runs on it (pid {pid}{since}); "
                        f"`invoke {self.command}` does not start while it does", hint=hint)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _parse(raw: bytes) -> dict | None:
    try:
        data = json.loads(raw.decode() or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
