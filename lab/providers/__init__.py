"""Where the lab's machines come from: one module per provider, one small
interface (kind's providers/provider.go is the model).

Everything above this package (commands, steps, checks, drills) is
provider-blind: it asks the chosen provider, never compares a provider's name.
Only this package, the Vagrantfile and lab/probe.py know which one runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .. import statefiles
from ..runlog import LabError

if TYPE_CHECKING:
    from ..config import LabConfig
    from ..nodes import Cluster, MachineState
    from ..runlog import Run


@runtime_checkable
class Provider(Protocol):
    name: str
    # Said when `provider: auto` keeps this one.
    chosen_because: str

    def available(self, config: "LabConfig") -> str | None:
        """None when it can run here; else why not (said when auto skips it)."""

    def prepare(self, config: "LabConfig", run: "Run") -> None:
        """Before any node starts: host tools, host ports, images, boxes, acceleration."""

    def up(self, config: "LabConfig", run: "Run") -> "Cluster":
        """Every node up and answering SSH (nothing changed when already so)."""

    def start_node(self, config: "LabConfig", run: "Run", node: str) -> "Cluster":
        """Start one stopped node again; the cluster with its fresh settings."""

    def stop_node(self, config: "LabConfig", run: "Run", node: str) -> None:
        """Stop one node (the node-loss drill)."""

    def halt(self, config: "LabConfig", run: "Run") -> list[str]:
        """lab.down: stop the nodes, keep their disks; the names stopped."""

    def destroy(self, config: "LabConfig", run: "Run", everything: bool) -> list[str]:
        """Remove what the lab made (machines, or only the lab's traces on
        servers it does not own); what was removed, in words."""

    def leftovers(self, config: "LabConfig") -> list[str]:
        """What the lab made that is still there after its nodes are gone."""

    def owned_ports(self, config: "LabConfig") -> set[int]:
        """127.0.0.1 ports this lab already holds itself (a re-run is fine)."""

    def console_hint(self, config: "LabConfig", node: str) -> str:
        """How to see a node that does not answer."""

    def check_resources(self, config: "LabConfig", starting: list[str]) -> None:
        """Refuse, before any starts, nodes the host cannot hold."""

    def patience(self, config: "LabConfig") -> float:
        """How many times longer than on containers the lab's waits may last."""

    def status(self, config: "LabConfig") -> list["MachineState"]:
        """Each machine's state, as the provider sees it."""


@dataclass(frozen=True)
class Choice:
    provider: Provider
    why: str

    @property
    def name(self) -> str:
        return self.provider.name


def all_providers() -> dict[str, Provider]:
    """Every provider by name, in the order `provider: auto` tries them."""
    from . import docker, libvirt, ssh, virtualbox
    found = (virtualbox.PROVIDER, libvirt.PROVIDER, docker.PROVIDER, ssh.PROVIDER)
    return {p.name: p for p in found}


def names() -> tuple[str, ...]:
    return tuple(all_providers())


def get(name: str) -> Provider:
    try:
        return all_providers()[name]
    except KeyError:
        raise LabError(f"unknown provider {name!r}", hint=f"use one of: {', '.join(names())}") from None


def choose(config: "LabConfig", providers: dict[str, Provider] | None = None) -> Choice:
    """The provider lab.yaml names, or with `auto` the first available one,
    with why (and why each one before it was skipped)."""
    providers = providers or all_providers()
    if config.provider != "auto":
        return Choice(providers[config.provider], f"set in {config.path.name}")
    skipped = []
    for p in providers.values():
        reason = p.available(config)
        if reason is None:
            return Choice(p, "auto: " + "; ".join(skipped + [p.chosen_because]))
        skipped.append(reason)
    raise LabError("no provider can run here: " + "; ".join(skipped),
                   hint="install VirtualBox, libvirt or Docker (./labctl up installs Docker), "
                        "or name servers you already have with provider: ssh")


def record(config: "LabConfig", choice: Choice) -> None:
    from ..nodes import own_dir
    statefiles.write_atomic(own_dir(config) / "provider.json",
                            json.dumps({"provider": choice.name, "why": choice.why}) + "\n")


def recorded(config: "LabConfig") -> dict:
    """The provider the last lab.up chose, and why ({} before the first)."""
    from ..nodes import own_dir
    chosen = own_dir(config) / "provider.json"
    return json.loads(chosen.read_text()) if chosen.exists() else {}


def current(config: "LabConfig") -> Provider:
    """The provider of this lab: the one its last lab.up chose, else the one
    lab.yaml names; with `auto` and no lab.up yet, Vagrant's (status, destroy
    of nothing) behave alike for every Vagrant provider."""
    name = recorded(config).get("provider")
    if name in all_providers():
        return get(name)
    if config.provider != "auto":
        return get(config.provider)
    return get("docker")
