"""The routing-mesh stand-in comes back by itself after the manager's
Docker restarts (issue 15: the app stayed unreachable until lab.up)."""
from pathlib import Path

from lab import config as cfg, stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_mesh_restarts_whatever_its_exit_code():
    data = {"services": {}}
    stack.add_mesh(data, cfg.load(ROOT / "lab.yaml"))
    assert data["services"][stack.MESH]["deploy"]["restart_policy"] == {"condition": "any"}
