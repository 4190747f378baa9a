"""lab/overlap.py: jobs overlap as their needs allow; their output and step
records reach the run in the list's order all the same."""
import io
import json
import signal
import threading
import time

import pytest
from rich.console import Console

from lab import overlap
from lab.runlog import LabError, Run


def make_run(tmp_path, explain=False):
    out = io.StringIO()
    run = Run(tmp_path, "up", explain=explain, console=Console(file=out, width=200, highlight=False), lab="t")
    return run, out


def stepping(name, log, hold=0.0, fail=False, gate=None):
    def work(view):
        log.append(("start", name, time.monotonic()))
        if gate:
            assert gate.wait(5), f"{name} was not let go"
        with view.step(name) as step:
            view.note(f"{name} says hello")
            time.sleep(hold)
            if fail:
                raise LabError(f"{name} broke")
            step.changed(f"{name} done")
        log.append(("end", name, time.monotonic()))
    return work


def records(run):
    return [json.loads(line)["name"] for line in (run.dir / "steps.jsonl").read_text().splitlines()]


def test_output_and_records_keep_the_list_order_while_a_later_job_finishes_first(tmp_path):
    run, out = make_run(tmp_path)
    log = []
    jobs = [overlap.Job("a", stepping("a", log)),
            overlap.Job("slow", stepping("slow", log, hold=0.6), ("a",)),
            overlap.Job("quick", stepping("quick", log), ("a",))]
    overlap.run_jobs(run, jobs)
    run.finish()
    ends = [name for kind, name, _ in log if kind == "end"]
    assert ends == ["a", "quick", "slow"]  # quick overlapped slow and ended first
    text = out.getvalue()
    assert text.index("slow says hello") < text.index("✓ slow") < text.index("quick says hello") < text.index("✓ quick")
    assert records(run) == ["a", "slow", "quick"]
    assert [s.name for s in run.steps] == ["a", "slow", "quick"]
    assert "quick says hello" in run.log_path.read_text()


def test_a_job_starts_only_after_what_it_needs(tmp_path):
    run, _ = make_run(tmp_path)
    log = []
    overlap.run_jobs(run, [overlap.Job("first", stepping("first", log, hold=0.3)),
                           overlap.Job("second", stepping("second", log), ("first",))])
    run.finish()
    times = {(kind, name): t for kind, name, t in log}
    assert times[("start", "second")] >= times[("end", "first")]


def test_at_once_bounds_the_jobs_running_together(tmp_path):
    run, _ = make_run(tmp_path)
    running, peak, lock = [0], [0], threading.Lock()

    def work(view):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
    overlap.run_jobs(run, [overlap.Job(str(i), work) for i in range(5)], at_once=2)
    run.finish()
    assert peak[0] == 2


def test_a_failure_stops_new_jobs_hands_over_what_finished_and_is_raised(tmp_path):
    run, out = make_run(tmp_path)
    log = []
    gate = threading.Event()
    jobs = [overlap.Job("a", stepping("a", log)),
            overlap.Job("broken", stepping("broken", log, fail=True), ("a",)),
            overlap.Job("beside", stepping("beside", log, gate=gate), ("a",)),
            overlap.Job("after", stepping("after", log), ("beside",))]
    timer = threading.Timer(0.5, gate.set)
    timer.start()
    with pytest.raises(LabError, match="broken broke"):
        overlap.run_jobs(run, jobs)
    run.finish("failed")
    started = [name for kind, name, _ in log if kind == "start"]
    assert "after" not in started  # not started once a job had failed
    text = out.getvalue()
    assert "✗ broken" in text and "✓ beside" in text  # the one running finished and was told
    assert records(run) == ["a", "broken", "beside"]


def test_a_job_may_need_only_jobs_listed_before_it(tmp_path):
    run, _ = make_run(tmp_path)
    with pytest.raises(ValueError, match="not listed before it"):
        overlap.run_jobs(run, [overlap.Job("b", lambda v: None, ("a",)), overlap.Job("a", lambda v: None)])
    run.finish()


def test_teaching_mode_prints_each_step_name_before_its_commands(tmp_path):
    run, out = make_run(tmp_path, explain=True)

    def work(view):
        with view.step("typed"):
            view.show_command("manager", "docker swarm init")
    overlap.run_jobs(run, [overlap.Job("typed", work)])
    run.finish()
    text = out.getvalue()
    assert text.index("typed") < text.index("docker swarm init") < text.index("✓ typed")


def test_secrets_hidden_in_one_job_are_masked_in_every_other(tmp_path):
    run, out = make_run(tmp_path)
    hidden = threading.Event()

    def hides(view):
        view.hide("s3cret-token", "<token>")
        hidden.set()

    def says(view):
        assert hidden.wait(5)
        view.note("joining with s3cret-token")
    overlap.run_jobs(run, [overlap.Job("hides", hides), overlap.Job("says", says)])
    run.finish()
    assert "s3cret-token" not in out.getvalue() + run.log_path.read_text()
    assert "joining with <token>" in out.getvalue()


def test_lab_ups_graph_lets_the_registry_and_the_swarm_overlap_in_the_tutorials_order(monkeypatch):
    from lab import offline
    from lab.steps import daemon_json, docker, nfs, order, registry, swarm
    monkeypatch.delenv("LAB_BUNDLE", raising=False)
    modules, needs = offline.with_bundle(order.CLUSTER, order.NEEDS)
    assert modules == order.CLUSTER
    assert needs[swarm] == needs[registry] == (daemon_json,) and needs[nfs] == (docker,)
    overlap.check_order([overlap.Job(m.NAME, None, tuple(n.NAME for n in needs[m])) for m in modules])


def test_from_a_bundle_apt_comes_first_and_the_registry_waits_for_its_loaded_image(monkeypatch, tmp_path):
    from lab import offline
    from lab.steps import daemon_json, docker, order, registry
    monkeypatch.setenv("LAB_BUNDLE", str(tmp_path))
    modules, needs = offline.with_bundle(order.CLUSTER, order.NEEDS)
    assert modules[0] is offline.AptSource and modules.index(offline.ManagerImages) == modules.index(registry) - 1
    assert offline.AptSource in needs[docker]
    assert needs[offline.ManagerImages] == (daemon_json,) and needs[registry] == (offline.ManagerImages,)
    overlap.check_order([overlap.Job(m.NAME, None, tuple(n.NAME for n in needs[m])) for m in modules])


def test_ctrl_c_tells_what_finished_and_records_the_running_job_as_failed(tmp_path):
    import _thread
    run, out = make_run(tmp_path)
    log = []
    gate = threading.Event()
    jobs = [overlap.Job("a", stepping("a", log)),
            overlap.Job("long", stepping("long", log, gate=gate), ("a",))]

    def ctrl_c_once_long_runs():
        # Not after a fixed delay: on a loaded CI host "a" may not be done by then.
        deadline = time.monotonic() + 10
        while not any(e[:2] == ("start", "long") for e in log) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        _thread.interrupt_main()
    # A shell that starts the tests in the background (CI, nohup ... &) leaves
    # SIGINT ignored, and interrupt_main then does nothing: Python's own
    # handler, as in a terminal, for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=ctrl_c_once_long_runs, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            overlap.run_jobs(run, jobs)
    finally:
        gate.set()
        signal.signal(signal.SIGINT, previous)
    run.finish("interrupted")
    lines = [json.loads(l) for l in (run.dir / "steps.jsonl").read_text().splitlines()]
    assert [(l["name"], l["outcome"]) for l in lines] == [("a", "changed"), ("long", "failed")]
    assert lines[1]["detail"] == "interrupted"
    assert "✓ a" in out.getvalue() and "✗ long" in out.getvalue()


def test_images_build_two_at_once_but_never_more_than_the_managers_cpus(monkeypatch):
    from lab.probe import parse
    from lab.steps import app_images

    monkeypatch.delenv("LAB_BUILDS", raising=False)
    assert parse("ipvs=yes\ncpus=1\n").cpus == 1 and parse("ipvs=yes\n").cpus == 0
    assert [app_images.builds_at_once(cpus) for cpus in (1, 2, 8, 0)] == [1, 2, 2, 2]
    monkeypatch.setenv("LAB_BUILDS", "3")  # said by hand: taken as said
    assert app_images.builds_at_once(1) == 3


@pytest.mark.parametrize("cpus", [1, 2, 0])
def test_cluster_steps_run_one_at_a_time_on_a_one_cpu_manager(monkeypatch, tmp_path, cpus):
    from lab import commands
    from lab.probe import Capabilities
    from lab.steps import Context, order

    monkeypatch.delenv("LAB_BUNDLE", raising=False)
    running, seen, lock = [], [], threading.Lock()

    def converge(ctx, module):
        with lock:
            running.append(module.NAME)
            seen.append((module.NAME, len(running)))
        time.sleep(0.2)
        with lock:
            running.remove(module.NAME)
    monkeypatch.setattr(commands, "converge", converge)
    run, _ = make_run(tmp_path)
    caps = Capabilities(ipvs=True, nfs_client=True, nfs_server=True, memory_mb=1024, cgroup=2, own_resolver=True,
                        cpus=cpus)
    ctx = Context(None, None, caps, run, "", tmp_path)
    commands.run_cluster_steps(ctx)
    # Every step ran; on one CPU alone and in CLUSTER's order, else side by
    # side (daemon.json beside the export, then the swarm beside the registry).
    assert sorted(n for n, _ in seen) == sorted(m.NAME for m in order.CLUSTER)
    if cpus == 1:
        assert [n for n, _ in seen] == [m.NAME for m in order.CLUSTER]
        assert max(k for _, k in seen) == 1
    else:
        assert max(k for _, k in seen) >= 2
