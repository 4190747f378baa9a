"""VirtualBox VMs (the tutorial's own setup), box debian/bookworm64."""
from __future__ import annotations

import shutil
import subprocess

from ..config import LabConfig
from .vagrant import VagrantProvider


def vboxmanage_works() -> bool:
    tool = shutil.which("VBoxManage")
    if not tool:
        return False
    try:
        return subprocess.run([tool, "list", "hostonlyifs"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class VirtualBoxProvider(VagrantProvider):
    name = "virtualbox"
    chosen_because = "VBoxManage works on this host"

    def available(self, config: LabConfig) -> str | None:
        return None if vboxmanage_works() else "no working VirtualBox"


PROVIDER = VirtualBoxProvider()
