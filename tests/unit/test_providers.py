"""The providers' one interface: every provider follows it, `auto` walks them
in order with its reasons, and nothing outside lab/providers/ (and the
Vagrantfile and the probe) asks which provider runs."""
import inspect
import re
from pathlib import Path

import pytest
import yaml

from lab import config as cfg
from lab import providers
from lab.providers import docker, libvirt, ssh, virtualbox

ROOT = Path(__file__).resolve().parents[2]
MODULES = (docker, libvirt, virtualbox, ssh)
PROTOCOL_METHODS = [name for name, member in vars(providers.Provider).items()
                    if inspect.isfunction(member) and not name.startswith("_")]


def lab(provider="auto"):
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    data["provider"] = provider
    return cfg.parse(data, ROOT / "lab.yaml")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_each_provider_module_follows_the_protocol(module):
    provider = module.PROVIDER
    assert isinstance(provider, providers.Provider)
    assert len(PROTOCOL_METHODS) >= 10, PROTOCOL_METHODS
    for name in PROTOCOL_METHODS:
        wanted = list(inspect.signature(getattr(providers.Provider, name)).parameters)[1:]
        got = list(inspect.signature(getattr(provider, name)).parameters)
        assert got == wanted, f"{module.__name__}.{name}{got} differs from the protocol's {wanted}"
    assert provider.name and provider.chosen_because
    assert providers.get(provider.name) is provider


def test_config_and_providers_know_the_same_names():
    assert set(cfg.PROVIDERS) == {"auto", *providers.names()}


class Fake:
    def __init__(self, provider, reason):
        self.name, self.chosen_because, self.reason = provider.name, provider.chosen_because, reason

    def available(self, config):
        return self.reason


def fakes(**reasons):
    """The real order, each provider available (None) or not (its reason)."""
    return {name: Fake(p, reasons.get(name)) for name, p in providers.all_providers().items()}


def test_auto_tries_virtualbox_then_libvirt_then_docker_and_says_why():
    assert list(providers.all_providers())[:3] == ["virtualbox", "libvirt", "docker"]
    assert providers.choose(lab(), fakes()).name == "virtualbox"
    choice = providers.choose(lab(), fakes(virtualbox="no working VirtualBox"))
    assert choice.name == "libvirt"
    assert choice.why == "auto: no working VirtualBox; KVM runs guests and vagrant-libvirt is installed"
    choice = providers.choose(lab(), fakes(virtualbox="no working VirtualBox", libvirt="no KVM that runs guests"))
    assert choice.name == "docker"
    assert choice.why.startswith("auto: no working VirtualBox; no KVM that runs guests; nodes are containers")


def test_auto_never_picks_servers_and_says_so_when_nothing_runs():
    assert ssh.PROVIDER.available(lab()) is not None
    with pytest.raises(providers.LabError) as err:
        providers.choose(lab(), fakes(virtualbox="a", libvirt="b", docker="c",
                                      ssh="servers only when named"))
    assert "no provider can run here: a; b; c; servers only when named" in str(err.value)


def test_an_explicit_provider_is_kept_and_said_why():
    choice = providers.choose(lab("libvirt"), fakes())
    assert (choice.name, choice.why) == ("libvirt", "set in lab.yaml")
    second = providers.choose(cfg.load(ROOT / "lab.libvirt.yaml"), fakes())
    assert second.why == "set in lab.libvirt.yaml"


def test_the_recorded_choice_is_the_current_provider(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text((ROOT / "lab.yaml").read_text())
    config = cfg.load(path)
    providers.record(config, providers.Choice(libvirt.PROVIDER, "test"))
    assert providers.recorded(config) == {"provider": "libvirt", "why": "test"}
    assert providers.current(config) is libvirt.PROVIDER


# A provider's name compared with a string: `== "libvirt"`, `"docker" !=`,
# `in ("libvirt", ...)`, `provider == 'ssh'`.
NAME = r"""["'](?:docker|libvirt|virtualbox|ssh)["']"""
COMPARED = re.compile(rf"""(?:[=!]=\s*{NAME})|(?:{NAME}\s*[=!]=)|(?:\bin\s*[(\[{{][^)\]}}]*{NAME})""")
ALLOWED = ("lab/providers/", "lab/probe.py")


def provider_name_comparisons(paths):
    found = []
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if COMPARED.search(line.split("#", 1)[0]):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_the_pattern_finds_a_comparison():
    assert COMPARED.search('if provider == "libvirt":')
    assert COMPARED.search("if 'docker' != choice.name:")
    assert COMPARED.search('if name in ("virtualbox", "x"):')
    assert not COMPARED.search('run(["docker", "port", name])')


def test_no_provider_name_is_compared_outside_the_providers():
    sources = sorted((ROOT / "lab").rglob("*.py")) + [ROOT / "tasks.py"]
    assert len(sources) > 30
    assert provider_name_comparisons(sources) == []
