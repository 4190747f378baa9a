"""The real lab: brought up once for the session with the README's own
command (`invoke lab.up`), checked from outside, destroyed by the last test.

LAB_CONFIG names another lab file (its own name, network and host ports) to
run these tests on a scratch lab beside lab.yaml's; the invoke tasks read
the same variable."""
import json
import os
from pathlib import Path

import pytest

from lab import config as cfg
from lab.steps import deploy
from tests.nodeshell import invoke_task, kept_cluster, on  # noqa: F401 - the test modules import `on` from here

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = Path(os.environ.get("LAB_CONFIG") or ROOT / "lab.yaml").resolve()
# This lab's own "latest" run link (another lab file may run beside it).
LAB_NAME = cfg.load(CONFIG_PATH).name


def invoke(*args, check=True, env=None, timeout=1800):
    return invoke_task(ROOT, *args, check=check, env=env, timeout=timeout)


def stack_replicas(cluster, config) -> dict[str, tuple[int, int]]:
    """(running, desired) of each service of the stack, as the manager reports
    them (read as lab.up's own stack check reads them)."""
    rows = [json.loads(line) for line in on(cluster, config.manager.name, f"docker stack services "
                                             f"{config.stack_name} --format '{{{{json .}}}}'").splitlines()]
    return {r["Name"].removeprefix(f"{config.stack_name}_"): deploy.replicas(r) for r in rows}


def last_run_steps():
    latest = ROOT / ".lab" / "runs" / f"latest-{LAB_NAME}"
    return [json.loads(line) for line in (latest / "steps.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def config():
    return cfg.load(CONFIG_PATH)


@pytest.fixture(scope="session")
def lab_up(config):
    """`invoke lab.up` once: from nothing on a fresh machine, a no-op if already up."""
    result = invoke("lab.up")
    return {"output": result.stdout, "steps": last_run_steps(),
            "run_dir": (ROOT / ".lab" / "runs" / f"latest-{LAB_NAME}").resolve()}


@pytest.fixture(scope="session")
def cluster(lab_up, config):
    yield from kept_cluster(config)



def app_answering(config, seconds=180, in_a_row=6):
    """After a test that drained or stopped a node, the API may answer 502/503
    while its tasks come back: wait until /health answers 200 `in_a_row` times
    one after another (bounded). One 200 is not enough: nginx spreads requests
    over the backend replicas, and the next one may still be starting (seen in
    CI: /health 200, then a POST 502 right after a drain)."""
    from lab.checks.http import wait_for
    answer = wait_for(f"{config.api_url}health", seconds, in_a_row=in_a_row)
    assert answer is not None and answer.status == 200, \
        f"the API did not answer 200 {in_a_row} times in a row within {seconds}s"
