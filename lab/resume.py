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
    """Start every stopped node container (`states`: node -> running, for
    every node): the manager first, then the workers all at once; True when
    all of them then answer on their kept SSH settings and have booted
    (False: use vagrant up).

    Why the manager first: a worker's engine that starts before the
    manager's cannot join the swarm's gossip (its port 7946 refuses), and
    Docker tries again only once a minute; until then the worker's tasks on
    overlay networks do not start (seen: a backend task 60 s late).
    systemd calls the manager booted once its engine is ready, gossip
    listening."""
    from concurrent.futures import ThreadPoolExecutor

    if set(states) != {n.name for n in config.nodes}:
        return False
    stopped = [name for name, running in states.items() if not running]
    if not stopped:
        # Running but silent: not a resume; vagrant up and its errors explain it.
        return False
    # What a trainee types; the lab starts the containers itself.
    run.show_command("host", "vagrant up --provider=docker")
    manager = config.manager.name
    waves = [[manager], [n for n in stopped if n != manager]] if manager in stopped else [stopped]
    deadline = time.monotonic() + BOOT_SECONDS
    with ThreadPoolExecutor(max_workers=len(config.nodes)) as pool:
        def wait_booted(names: list[str]) -> bool:
            waiting = list(names)
            while waiting and time.monotonic() < deadline:
                ok = list(pool.map(lambda name: booted(cluster[name]), waiting))
                waiting = [name for name, good in zip(waiting, ok) if not good]
                if waiting:
                    time.sleep(0.5)
            if waiting:
                run.log(f"resume: {', '.join(waiting)} did not boot within {BOOT_SECONDS}s; vagrant up takes over")
            return not waiting

        for wave in (w for w in waves if w):
            argv = ["docker", "start", *[f"{config.name}-{n}" for n in wave]]
            started = subprocess.run(argv, capture_output=True, text=True)
            run.log(f"resume: {' '.join(argv)}\n{started.stdout}{started.stderr}")
            if started.returncode != 0 or not wait_booted(wave):
                return False
        # Nodes that were running already must answer too.
        if not wait_booted([n.name for n in config.nodes if n.name not in stopped]):
            return False
    order = f"{manager}, then the others at once" if manager in stopped and len(stopped) > 1 else "docker start"
    step.changed(f"started {', '.join(stopped)} (docker start: {order})")
    return True
