"""lab.soak's cycle lines and summary, and lab.load's figures, without a lab."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab import config as cfg, load, soak

ROOT = Path(__file__).resolve().parents[2]


def fake_run(fail_at=None):
    """invoke as a subprocess: exit 1 with the lab's error line where told."""
    calls = []

    def run(argv, **kw):
        calls.append(argv)
        task = argv[3]
        n = sum(1 for c in calls if c[3] == task)
        if fail_at == (task, n):
            return SimpleNamespace(returncode=1, stdout="✓ nodes\n✗ stack: musicapp_db 0/1 after 300s\n", stderr="")
        return SimpleNamespace(returncode=0, stdout="ok\n", stderr="")
    return run, calls


def test_every_cycle_destroys_brings_up_and_checks_this_lab(tmp_path):
    config = cfg.load(ROOT / "lab.yaml")
    run, calls = fake_run()
    printed = []
    out = tmp_path / "soak.txt"
    cycles = soak.soak(config, 3, out, run=run, echo=printed.append)
    assert [c[3] for c in calls] == ["lab.destroy", "lab.up", "lab.check"] * 3
    assert all(c[-2:] == ["--config", str(config.path)] for c in calls)
    assert all(c.ok for c in cycles)
    text = out.read_text()
    assert text.count("\ncycle ") == 3 and "3 of 3 cycles passed" in text
    assert printed[-1] == soak.summary(cycles)


def test_a_failed_cycle_names_the_command_and_the_labs_error_and_the_next_cycle_runs(tmp_path):
    config = cfg.load(ROOT / "lab.yaml")
    run, calls = fake_run(fail_at=("lab.up", 2))
    cycles = soak.soak(config, 3, tmp_path / "soak.txt", run=run, echo=lambda _: None)
    assert [c.ok for c in cycles] == [True, False, True]
    assert cycles[1].failed == "up" and "check" not in cycles[1].seconds
    assert "musicapp_db 0/1" in cycles[1].detail
    assert "2 of 3 cycles passed" in (tmp_path / "soak.txt").read_text()
    assert "cycle 2 failed in up" in soak.summary(cycles)


def test_ctrl_c_keeps_the_summary_of_the_cycles_that_finished(tmp_path):
    config = cfg.load(ROOT / "lab.yaml")
    run, calls = fake_run()

    def interrupted(argv, **kw):
        if len(calls) == 4:
            raise KeyboardInterrupt
        return run(argv, **kw)
    cycles = soak.soak(config, 5, tmp_path / "soak.txt", run=interrupted, echo=lambda _: None)
    assert len(cycles) == 1 and cycles[0].ok
    text = (tmp_path / "soak.txt").read_text()
    assert "stopped by Ctrl-C during cycle 2" in text and "1 of 1 cycles passed" in text


@pytest.mark.parametrize("cycles", ["0", "x", "101", "-1"])
def test_soak_refuses_a_bad_cycle_count_before_anything_runs(cycles):
    with pytest.raises(SystemExit, match="--cycles: a whole number from 1 to 100"):
        soak.main(str(ROOT / "lab.yaml"), cycles)


def test_load_figures():
    stats = load.Stats(10, 10, [load.Result("page", 200, t / 1000) for t in range(1, 101)], planned=100)
    assert stats.percentile(50) == 0.050 and stats.percentile(99) == 0.099
    assert stats.held() and stats.achieved == 10
    stats.results.append(load.Result("login", 502, 0.2))
    assert stats.errors_5xx == 1 and not stats.held()
    behind = load.Stats(100, 10, [load.Result("page", 200, 0.01)] * 1000, planned=1000, lag=3.0)
    assert not behind.held()
    unanswered = load.Stats(10, 10, [load.Result("page", 200, 0.01)] * 99 + [load.Result("page", 0, 10)], planned=100)
    assert unanswered.no_answer == 1 and not unanswered.held()


def test_load_only_talks_to_loopback():
    with pytest.raises(ValueError, match="only talks to 127.0.0.1"):
        load.Client("http://192.168.56.10/", "http://127.0.0.1:8001/")


@pytest.mark.parametrize("rates,steps,hold", [("a,b", 15, 60), ("0,10", 15, 60), ("10", 0, 60), ("10", 15, 9999)])
def test_load_refuses_bad_flags(rates, steps, hold):
    with pytest.raises(SystemExit):
        load.main(str(ROOT / "lab.yaml"), rates, steps, hold)
