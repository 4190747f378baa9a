"""lab.check with a worker stopped: it names the node and what the swarm
says of it, runs the checks it can, says whether the app still answers,
exits non-zero and names lab.up; lab.up then brings the node back."""
import json
import subprocess
import time

import pytest

from lab.checks.http import wait_for

from .conftest import invoke, on

pytestmark = pytest.mark.slow


def test_lab_check_reports_a_stopped_worker_and_lab_up_repairs_it(cluster, config):
    m = config.manager.name
    victim = config.workers[1].name
    subprocess.run(["docker", "stop", f"{config.name}-{victim}"], check=True, capture_output=True)
    try:
        # Rescheduled: read from the tasks (`docker stack services` still counts
        # the Down node's), then the app answering through 127.0.0.1 again.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            rows = {json.loads(l)["Hostname"]: json.loads(l) for l in
                    on(cluster, m, "docker node ls --format '{{json .}}'").splitlines()}
            tasks = [json.loads(l) for l in on(cluster, m, f"docker stack ps {config.stack_name} --filter "
                                                           "desired-state=running --format '{{json .}}'").splitlines()]
            if (rows[victim]["Status"] == "Down" and tasks and not [t for t in tasks if t["Node"] == victim]
                    and all(t["CurrentState"].startswith("Running") for t in tasks)):
                break
            time.sleep(2)
        assert rows[victim]["Status"] == "Down"
        for url in (f"{config.web_url}login", f"{config.api_url}health"):
            answer = wait_for(url, 90)
            assert answer is not None and answer.status == 200, url
        result = invoke("lab.check", "--no-browser", check=False)
        out = result.stdout
        assert result.returncode == 1, out
        assert f"{victim} does not answer (swarm: Down, Active)" in out
        assert "the app still answers: yes" in out
        assert "the data-move drill is skipped" in out
        assert f"1 node(s) do not answer: {victim}" in out
        assert "repair: invoke lab.up" in out
        # The checks that can run did: the app's pages and API passed.
        assert "check page: /login" in out and "check api: register, login, playlist, song" in out
        assert "not Ready and Active: " + victim in out
    finally:
        invoke("lab.up")
    rows = [json.loads(l) for l in on(cluster, m, "docker node ls --format '{{json .}}'").splitlines()]
    assert all(r["Status"] == "Ready" for r in rows), rows
