"""`vagrant validate` for each provider: the Vagrantfile reads lab.yaml right."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not shutil.which("vagrant"), reason="vagrant is not installed (apt-get install vagrant)")


@pytest.mark.parametrize("provider", ["virtualbox", "libvirt", "docker"])
def test_vagrant_validate(provider):
    env = dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1", VAGRANT_DEFAULT_PROVIDER=provider)
    # --ignore-provider: the provider need not be installed for its settings to be checked.
    args = ["vagrant", "validate"] + (["--ignore-provider"] if provider == "virtualbox" else [])
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Vagrantfile validated successfully" in result.stdout
