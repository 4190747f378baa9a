"""The emulated VM lane: the whole lab on vagrant-libvirt, real VMs, no stand-ins.

Slow (41 minutes on a quiet host in 2026-11, over an hour since: see
docs/benchmarks.md), so it runs only when asked:
    LAB_LIBVIRT=1 .venv/bin/python -m pytest -m libvirt tests/libvirt
It uses lab.libvirt.yaml (another lab name, network and host ports than
lab.yaml), so it runs beside a docker-provider lab. LAB_LIBVIRT_CONFIG names
another file. The last test destroys the VMs.
"""
import json
import os
from pathlib import Path

import pytest

from lab import config as cfg
from tests.nodeshell import invoke_task, kept_cluster, on  # noqa: F401 - the test modules import `on` from here

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(os.environ.get("LAB_LIBVIRT_CONFIG", ROOT / "lab.libvirt.yaml")).resolve()


def pytest_collection_modifyitems(config, items):
    """Every test here is marked libvirt, and skipped (before any fixture
    runs) unless LAB_LIBVIRT=1: a plain `pytest tests/libvirt` costs nothing."""
    skip = None if os.environ.get("LAB_LIBVIRT") == "1" else pytest.mark.skip(
        reason="the emulated VM lane runs only with LAB_LIBVIRT=1 (an hour or more)")
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.libvirt)
            if skip:
                item.add_marker(skip)


def invoke(*args, check=True, timeout=3600):
    return invoke_task(ROOT, *args, config=CONFIG, check=check, timeout=timeout)


def last_run():
    latest = ROOT / ".lab" / "runs" / f"latest-{cfg.load(CONFIG).name}"
    steps = [json.loads(line) for line in (latest / "steps.jsonl").read_text().splitlines()]
    return latest.resolve(), steps


@pytest.fixture(scope="session")
def config():
    c = cfg.load(CONFIG)
    assert c.provider == "libvirt", f"{CONFIG} must say provider: libvirt"
    return c


@pytest.fixture(scope="session")
def lab_up(config):
    """`invoke lab.up --config lab.libvirt.yaml` once, from whatever state.
    Two hours: the emulated VMs' steps ran 1.3-2.5 times their November
    times on the same host, and the last runs needed more than one hour."""
    result = invoke("lab.up", timeout=7200)
    run_dir, steps = last_run()
    return {"output": result.stdout, "steps": steps, "dir": run_dir}


@pytest.fixture(scope="session")
def cluster(lab_up, config):
    yield from kept_cluster(config)

