"""The docker step has one node download for all, and the host make the
uncompressed copy, only where that pays: two nodes or more to install, a
host apt cache the nodes share, no current copy, and a download that worked."""
from types import SimpleNamespace

import pytest

from lab import debcache
from lab.steps import docker


@pytest.fixture
def step(tmp_path, monkeypatch):
    ran, made = [], []
    answer = SimpleNamespace(ok=True)

    def sh(node, command, **kwargs):
        ran.append((node, command))
        return answer

    ctx = SimpleNamespace(state_dir=tmp_path, sh=sh)
    (tmp_path / "cache" / "apt").mkdir(parents=True)
    monkeypatch.setattr(debcache, "current", lambda cache: False)
    monkeypatch.setattr(debcache, "make", lambda cache: made.append(cache))
    return SimpleNamespace(ctx=ctx, ran=ran, made=made, answer=answer, cache=tmp_path / "cache" / "apt")


def test_the_first_node_downloads_then_the_host_makes_the_copy(step):
    docker.fetch_once(step.ctx, ["manager", "worker1"])
    assert step.ran == [("manager", docker.FETCH)]
    assert step.made == [step.cache]


def test_a_failed_download_makes_no_copy(step):
    step.answer.ok = False
    docker.fetch_once(step.ctx, ["manager", "worker1"])
    assert step.ran and step.made == []


@pytest.mark.parametrize("why", ["one node", "no host cache", "copy current"])
def test_nothing_is_fetched_where_it_would_not_pay(step, monkeypatch, why):
    nodes = ["worker3"] if why == "one node" else ["manager", "worker1"]
    if why == "no host cache":
        step.cache.rmdir()
    if why == "copy current":
        monkeypatch.setattr(debcache, "current", lambda cache: True)
    docker.fetch_once(step.ctx, nodes)
    assert step.ran == [] and step.made == []


def test_a_node_without_the_shared_cache_downloads_nothing_ahead():
    """exit 3 before anything else: a VM or a server of the class's own
    installs Debian's way, each by itself."""
    assert docker.FETCH.startswith(f"[ -d {docker.SHARED_CACHE} ] || exit 3\n")
    assert "--download-only" in docker.FETCH and "systemctl" not in docker.FETCH
