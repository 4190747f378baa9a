"""lab_run: a run's record always ends, and one command at a time runs on a
lab. The lock is tried between real processes: a holder started here, and
lab commands (in-process and through invoke) that meet it."""
import json
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import commands, config as cfg, nodes

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
from lab import commands, config
with commands.lab_run(config.load(sys.argv[1]), "up") as run:
    print("holding", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def config(tmp_path):
    shutil.copy(ROOT / "lab.yaml", tmp_path / "lab.yaml")
    return cfg.load(tmp_path / "lab.yaml")


def runs(config) -> list[dict]:
    folder = nodes.state_dir(config) / "runs"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("2*/run.json"))] if folder.exists() else []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("manager"), ZeroDivisionError()])
def test_an_unexpected_exception_mid_run_ends_the_record_as_failed(config, capsys, error):
    with pytest.raises(SystemExit) as exit_:
        with commands.lab_run(config, "up") as run:
            with run.step("a step that has a bug"):
                raise error
    assert exit_.value.code == 1
    assert [(r["command"], r["result"]) for r in runs(config)] == [("up", "failed")]
    shown = capsys.readouterr().out
    assert f"unexpected {type(error).__name__}" in shown and "a bug in the lab" in shown
    assert "Traceback (most recent call last)" in (run.dir / "run.log").read_text()
    # The lock went with it: the next command runs.
    with commands.lab_run(config, "check"):
        pass
    assert [r["result"] for r in runs(config)] == ["failed", "ok"]


def test_an_exit_from_inside_a_run_ends_the_record_too(config):
    with pytest.raises(SystemExit) as exit_:
        with commands.lab_run(config, "up"):
            raise SystemExit(2)
    assert exit_.value.code == 2
    assert [r["result"] for r in runs(config)] == ["failed"]


def start_holder(config) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(config.path)], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "holding":
        proc.kill()
        pytest.fail(f"the holder did not start: {line}{proc.stdout.read() if ready else ''}")
    return proc


def test_a_second_command_is_refused_at_once_naming_the_running_one(config, capsys):
    holder = start_holder(config)
    try:
        assert [(r["command"], r["result"]) for r in runs(config)] == [("up", "running")]
        start = time.monotonic()
        with pytest.raises(SystemExit) as exit_:
            with commands.lab_run(config, "destroy"):
                pytest.fail("ran while lab.up holds the lab")
        assert exit_.value.code == 1 and time.monotonic() - start < 3
        shown = capsys.readouterr().out
        assert f"`invoke lab.up` runs on it (pid {holder.pid}" in shown
        assert "`invoke lab.destroy` does not start" in shown and f"kill {holder.pid}" in shown
        # Through invoke, as a trainee would type it: refused, no run recorded.
        other = subprocess.run([sys.executable, "-m", "invoke", "lab.check", "--config", str(config.path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert other.returncode == 1, other.stdout + other.stderr
        assert f"(pid {holder.pid}" in other.stdout
        # A reader is not a writer: lab.report runs while lab.up holds the lab.
        report = subprocess.run([sys.executable, "-m", "invoke", "lab.report", "--config", str(config.path)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert report.returncode == 0 and "up: running" in report.stdout, report.stdout + report.stderr
        assert [(r["command"], r["result"]) for r in runs(config)] == [("up", "running")]
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    assert [r["result"] for r in runs(config)] == ["ok"]
    with commands.lab_run(config, "destroy"):
        pass
    assert [(r["command"], r["result"]) for r in runs(config)] == [("up", "ok"), ("destroy", "ok")]


def test_the_lock_of_a_killed_command_is_taken_over(config, capsys):
    holder = start_holder(config)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    lock_file = nodes.own_dir(config) / "lock"
    assert json.loads(lock_file.read_text())["pid"] == holder.pid
    with commands.lab_run(config, "up") as run:
        assert json.loads(lock_file.read_text())["pid"] != holder.pid
    assert f"took over the lock of `invoke lab.up` (pid {holder.pid})" in capsys.readouterr().out
    assert run.result == "ok"
    assert lock_file.read_text() == ""


def test_a_command_run_inside_another_of_the_same_lab_keeps_the_lock(config):
    with commands.lab_run(config, "soak"):
        with commands.lab_run(config, "up"):
            pass
        # The outer command still holds the lab: another process is refused.
        other = subprocess.run([sys.executable, "-m", "invoke", "lab.check", "--config", str(config.path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert other.returncode == 1 and "`invoke lab.soak` runs on it" in other.stdout, other.stdout
    assert [(r["command"], r["result"]) for r in runs(config)] == [("soak", "ok"), ("up", "ok")]
