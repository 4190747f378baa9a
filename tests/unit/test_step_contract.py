"""The step contract (lab/steps.Step) and the one place the steps' order is
written (lab/steps/order.py)."""
import importlib
import inspect
from pathlib import Path

import pytest

from lab import commands, practice
from lab.steps import Step, order

STEPS_DIR = Path(__file__).resolve().parents[2] / "lab" / "steps"
CONTRACT = [name for name, member in vars(Step).items() if inspect.isfunction(member) and not name.startswith("_")]


def step_files():
    return sorted(p.stem for p in STEPS_DIR.glob("*.py") if p.stem not in ("__init__", "order"))


@pytest.mark.parametrize("module", order.MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_step_module_follows_the_contract(module):
    assert isinstance(module, Step), f"{module.__name__} lacks part of the step contract"
    assert sorted(CONTRACT) == ["apply", "check", "teach"]
    for name in CONTRACT:
        wanted = list(inspect.signature(getattr(Step, name)).parameters)[1:]
        assert list(inspect.signature(getattr(module, name)).parameters) == wanted, f"{module.__name__}.{name}"
    assert isinstance(module.NAME, str) and module.NAME
    if hasattr(module, "stand_in"):
        assert list(inspect.signature(module.stand_in).parameters) == ["ctx"]


def test_every_step_file_has_its_place_in_the_order():
    files = step_files()
    assert len(files) >= 11
    placed = sorted(m.__name__.rsplit(".", 1)[1] for m in order.MODULES)
    assert placed == files


def test_practice_and_lab_up_follow_the_one_order():
    assert practice.KEYS == order.KEYS
    for key, modules in order.TUTORIAL:
        assert practice.step(key).checks == tuple(m.check for m in modules), key
    assert commands.CLUSTER_STEPS is order.CLUSTER
    assert set(order.CLUSTER + order.APP) <= set(order.MODULES)


def test_a_module_without_apply_breaks_the_contract():
    module = importlib.import_module("lab.steps.verify")
    apply = module.apply
    try:
        del module.apply
        assert not isinstance(module, Step)
    finally:
        module.apply = apply
