"""The order of the steps, written once.

TUTORIAL is the module's order (guided practice walks it; step 0 is Docker,
from an earlier module of the course). lab.up runs the cluster's steps first
(CLUSTER) and then the app's (APP); its one difference from the tutorial's
order: daemon.json comes before the swarm, so every engine restarts once,
before any node joins, instead of under a running swarm.
"""
from __future__ import annotations

from . import (app_images, app_source, daemon_json, deploy, docker, frontend_env, nfs, registry, server_name,
               swarm, verify)

TUTORIAL = (
    ("docker", (docker,)),
    ("swarm", (swarm,)),
    ("app", (app_source,)),
    ("server_name", (server_name,)),
    ("frontend_env", (frontend_env,)),
    ("registry", (registry, daemon_json)),
    ("nfs", (nfs,)),
    ("images", (app_images,)),
    ("deploy", (deploy,)),
    ("verify", (verify,)),
)
KEYS = tuple(key for key, _ in TUTORIAL)
MODULES = tuple(m for _, modules in TUTORIAL for m in modules)
CLUSTER = (docker, daemon_json, swarm, registry, nfs)
APP = (app_images, deploy)
# What each cluster step waits for: lab.up runs them as a graph (lab/overlap.py),
# each as soon as these are done, and prints them in CLUSTER's order. The swarm
# and the registry need every engine restarted with its daemon.json, not each
# other; the export needs only the packages installed (the docker step's apt is
# done). lab.up's image builds wait for the registry alone (commands.py).
NEEDS = {docker: (), daemon_json: (docker,), swarm: (daemon_json,), registry: (daemon_json,), nfs: (docker,)}


def cluster_at_once(cpus: int = 0) -> int | None:
    """How many cluster steps run together: as many as the graph allows (None),
    but one at a time, in CLUSTER's order, on a manager with one CPU (`cpus`,
    from the probe; 0: not known). The registry, the export and the swarm all
    work on the manager: on the libvirt lane's emulated 1-vCPU manager, the
    registry and the export side by side took 585 / 600 s where one after the
    other took 90 + 117 s (docs/benchmarks.md, sessions 8 and 9)."""
    return 1 if cpus == 1 else None


def modules(key: str) -> tuple:
    return dict(TUTORIAL)[key]
