"""lab.check and lab.status against the real lab; and a check that fails
when the thing it checks is broken."""
import json
import xml.etree.ElementTree as ET

import pytest

from .conftest import invoke, on

pytestmark = pytest.mark.slow


def test_lab_check_passes_and_writes_junit(lab_up, tmp_path):
    junit = tmp_path / "check.xml"
    result = invoke("lab.check", "--junit", str(junit))
    assert "checks passed" in result.stdout
    suite = ET.parse(junit).getroot()
    names = [c.get("name") for c in suite.iter("testcase")]
    assert suite.get("failures") == "0" and len(names) == 8, names
    assert any("chromium" in n for n in names) and any("survives moving" in n for n in names)


def test_the_browser_check_leaves_a_screenshot(lab_up):
    from .conftest import LAB_NAME, ROOT
    invoke("lab.check", "--no-drill")
    shot = (ROOT / ".lab" / "runs" / f"latest-{LAB_NAME}" / "login-as.png")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lab_check_fails_when_a_service_is_scaled_down(cluster, config, lab_up):
    name = f"{config.stack_name}_frontend"
    on(cluster, config.manager.name, f"docker service scale -d {name}=0")
    try:
        result = invoke("lab.check", "--no-drill", "--no-browser", check=False)
        assert result.returncode == 1
        assert "not at full replicas: frontend" in result.stdout
        assert "(the stack file asks for 2)" in result.stdout
    finally:
        on(cluster, config.manager.name, f"docker service scale {name}=2")


def test_lab_status_json_has_stable_keys(lab_up, config):
    data = json.loads(invoke("lab.status", "--json").stdout)
    assert set(data) == {"provider", "provider_reason", "stand_ins", "nodes", "services", "urls", "last_run"}
    assert data["provider"] == "docker"
    assert [n["name"] for n in data["nodes"]] == [n.name for n in config.nodes]
    assert all(n["state"] == "running" and n["swarm_status"] == "Ready" for n in data["nodes"])
    svc = {s["name"]: s for s in data["services"]}
    assert svc[f"{config.stack_name}_backend"]["replicas_wanted"] == 2
    assert data["urls"]["web"] == f"{config.web_url}login"
