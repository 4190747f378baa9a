"""lab.dashboard in a real chromium (Debian's, as lab.check drives it): a
column per node, the app's task cards, and a drained node's column empties."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lab.checks import browser
from lab.checks.http import request
from tests.nodeshell import interruptible

from .conftest import LAB_NAME, ROOT, on

pytestmark = pytest.mark.slow


@pytest.fixture
def dashboard(lab_up, config):
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "lab.dashboard"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ), preexec_fn=interruptible)
    url = config.dashboard_url
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline:
        try:
            state = request("GET", url + "state").json()
            if state.get("nodes"):
                break
        except OSError:
            pass
        time.sleep(0.5)
    assert state and state.get("nodes"), f"the dashboard did not answer on {url}"
    yield url
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


def columns(driver):
    """What the page shows, read in one script: the page redraws every
    second, so elements found one by one may be gone a moment later."""
    return driver.execute_script("""
        const out = {};
        for (const col of document.querySelectorAll(".node")) {
          out[col.dataset.node] = {
            availability: col.dataset.availability,
            services: [...col.querySelectorAll(".task[data-stack=yes]")].map(c => c.dataset.service).sort()};
        }
        return out;""")


def test_the_dashboard_shows_nodes_tasks_and_a_drain(dashboard, cluster, config):
    m = config.manager.name
    run_dir = (ROOT / ".lab" / "runs" / f"latest-{LAB_NAME}").resolve()
    assert run_dir.name.endswith("-dashboard")
    with browser.chromium() as driver:
        driver.get(dashboard)
        browser.wait_until(driver, lambda: len(columns(driver)) == 4
                           and sum(len(c["services"]) for c in columns(driver).values()) >= 7, "node columns and cards")
        view = columns(driver)
        assert list(view) == [n.name for n in config.nodes]
        services = {s for c in view.values() for s in c["services"]}
        assert {"db", "backend", "frontend", "nginx-frontend", "nginx-backend"} <= services, services
        busiest = max((w.name for w in config.workers), key=lambda w: len(view[w]["services"]))
        assert view[busiest]["services"]
        on(cluster, m, f"docker node update --availability drain {busiest}")
        try:
            browser.wait_until(driver, lambda: columns(driver)[busiest]["availability"] == "Drain"
                               and not columns(driver)[busiest]["services"], "the drained column to empty", 120)
            driver.save_screenshot(str(run_dir / "dashboard-drain.png"))
            after = columns(driver)
            assert not after[busiest]["services"]
        finally:
            on(cluster, m, f"docker node update --availability active {busiest}")
        browser.wait_until(driver, lambda: columns(driver)[busiest]["availability"] == "Active", "Active again", 30)
    shot = run_dir / "dashboard-drain.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Leave the app at full replicas for the next test.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = [json.loads(l) for l in on(cluster, m, f"docker stack services {config.stack_name} "
                                                      "--format '{{json .}}'").splitlines()]
        if all(r["Replicas"].split(" ")[0].split("/")[0] == r["Replicas"].split(" ")[0].split("/")[1] for r in rows):
            break
        time.sleep(1)
