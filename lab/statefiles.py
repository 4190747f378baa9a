"""The lab's state on the host (.lab/): private to its owner, and every state
file written whole or not at all.

.lab holds the swarm's secrets, SSH settings and run logs: mode 700, and the
files in it 600. A state file is written to a temporary file in the same
folder, flushed to disk and renamed over the old one, so a crash or Ctrl-C
mid-write leaves the old file or the new one, never half of one.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (mode 700) or tighten an existing one made before this rule."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)
    return path


def private_opener(path: str, flags: int) -> int:
    """For open(..., opener=private_opener): a new file is created mode 600."""
    return os.open(path, flags, PRIVATE_FILE)


def write_atomic(path: Path, data: str | bytes, mode: int = PRIVATE_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # The rename is an entry of the folder: flush it too, or a crash can lose it.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
