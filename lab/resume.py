"""Resume after `lab.down` on the docker provider, in seconds.

`vagrant up` of stopped node containers starts them one after another, and
asks Vagrant for their SSH settings again (about 40 s for four nodes on two
cores). The containers keep their networks, published ports and keys, so a
single `docker start` of all of them and the kept SSH settings do the same.
Anything unusual (a node container missing, one that does not come back)
leaves the work to `vagrant up`, as before.
"""
from __future__ import annotations

import subprocess
import time

from .config import LabConfig
from .runlog import Run

# How long started containers get to answer SSH and finish booting (systemd
# started the node's Docker engine) before vagrant up is left to do it.
BOOT_SECONDS = 90


def booted(conn) -> bool:
    """SSH answers and systemd is done starting units (the Docker engine among them)."""
    try:
        out = conn.run("timeout 5 systemctl is-system-running --wait", hide=True, warn=True, timeout=15)
    except Exception:  # noqa: BLE001 - no answer yet while the node boots
        return False
    return out.stdout.strip() in ("running", "degraded")


def start_stopped(config: LabConfig, cluster, run: Run, step, states: dict[str, bool]) -> bool:
    """Start every stopped node container at once (`states`: node -> running,
    for every node); True when all of them then answer on their kept SSH
    settings and have booted (False: use vagrant up)."""
    from concurrent.futures import ThreadPoolExecutor

    if set(states) != {n.name for n in config.nodes}:
        return False
    stopped = [name for name, running in states.items() if not running]
    if not stopped:
        # Running but silent: not a resume; vagrant up and its errors explain it.
        return False
    # What a trainee types; the lab starts the containers all at once.
    run.show_command("host", "vagrant up --provider=docker")
    argv = ["docker", "start", *[f"{config.name}-{n}" for n in stopped]]
    started = subprocess.run(argv, capture_output=True, text=True)
    run.log(f"resume: {' '.join(argv)}\n{started.stdout}{started.stderr}")
    if started.returncode != 0:
        return False
    deadline = time.monotonic() + BOOT_SECONDS
    waiting = [n.name for n in config.nodes]
    with ThreadPoolExecutor(max_workers=len(waiting)) as pool:
        while waiting and time.monotonic() < deadline:
            ok = list(pool.map(lambda name: booted(cluster[name]), waiting))
            waiting = [name for name, good in zip(waiting, ok) if not good]
            if waiting:
                time.sleep(0.5)
    if waiting:
        run.log(f"resume: {', '.join(waiting)} did not boot within {BOOT_SECONDS}s; vagrant up takes over")
        return False
    step.changed(f"started {', '.join(stopped)} (docker start, all at once)")
    return True
