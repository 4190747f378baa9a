"""Servers you already have (placeholder; filled in by the next commit)."""
from __future__ import annotations

from .vagrant import VagrantProvider


class SSHProvider(VagrantProvider):
    name = "ssh"
    chosen_because = "servers named in lab.yaml"

    def available(self, config) -> str | None:
        return "servers are used only when lab.yaml names them (provider: ssh)"

    def prepare(self, config, run) -> None:
        from ..runlog import LabError
        raise LabError("provider: ssh is not there yet", hint="use provider: auto")


PROVIDER = SSHProvider()
