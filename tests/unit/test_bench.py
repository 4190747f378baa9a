"""lab.bench's bookkeeping: image sizes as docker prints them, and the
previous bench's figures read back from docs/benchmarks.md."""
import pytest

from lab import bench


def test_docker_sizes_in_megabytes():
    assert bench.megabytes("146MB") == 146.0
    assert bench.megabytes("1.2GB") == 1200.0
    assert bench.megabytes("512kB") == pytest.approx(0.512)
    with pytest.raises(ValueError):
        bench.megabytes("many")


def test_the_previous_figures_come_back_from_the_written_section():
    now = {"warm": "38.0 s", "size_database": "146 MB"}
    text = "\n".join([bench.BEGIN, "# Benchmarks", f"<!-- figures: {'{'}\"warm\": \"38.0 s\", "
                      f"\"size_database\": \"146 MB\"{'}'} -->", bench.END, "", "# other lanes"])
    assert bench.previous_figures(text) == now
    assert bench.previous_figures("# no bench section yet") == {}


def test_every_figure_has_its_target_and_both_earlier_values():
    table = bench.figures_table({"warm": "38.0 s"}, {"warm": "89.0 s"})
    warm = next(line for line in table if line.startswith("| warm"))
    assert warm.split(" | ")[1:] == ["<= 40 s", "38.0 s", "89.0 s", "89 s |"]
    assert len(table) == 2 + len(bench.FIGURES)


def test_a_bench_without_cold_runs_writes_what_it_measured(tmp_path, monkeypatch):
    """--cold 0 (the base's debootstrap not measured either), one run of the
    rest: the table has those figures and "-" for the cold ones."""
    commands = []

    def fake_invoke(*args):
        commands.append(args)
        return bench.Took(12.5, [{"name": "nodes", "outcome": "ok", "seconds": 1.0}], 100.0,
                          stalled=args == ("lab.up",) and commands.count(("lab.up",)) == 1)
    monkeypatch.setattr(bench, "invoke", fake_invoke)
    monkeypatch.setattr(bench, "base_seconds", lambda: pytest.fail("the base is measured only for a cold run"))
    monkeypatch.setattr(bench, "forget_caches", lambda node_image: commands.append(("forget", node_image)))
    for name, value in (("used_mb", lambda: 50.0), ("image_sizes", lambda: {"database": 146.0}),
                        ("api_throughput", lambda: "n/a"), ("other_labs", lambda: []), ("settle", lambda: 3.0),
                        ("host_reference", lambda: 0.5)):
        monkeypatch.setattr(bench, name, value)
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    out = tmp_path / "benchmarks.md"
    text = bench.bench(cold_runs=0, runs=1, out=out, cached_runs=0)
    assert ("forget", True) not in commands and ("forget", False) not in commands
    assert commands.count(("lab.up",)) == 3  # warm, no-op, resume
    rows = {line.split(" | ")[0]: line.split(" | ") for line in text.splitlines() if line.startswith("| ")}
    assert rows["| warm `lab.up` (`lab.destroy`, caches kept)"][2] == "12.5 s"
    assert rows["| cold `lab.up` from nothing (no cache at all)"][2] == "-"
    assert out.read_text().startswith(bench.BEGIN)
    # The first lab.up (warm) had an engine stall, the no-op and resume did not.
    assert "moby/moby#47396; the stack step names them): warm 1 of 1, noop 0 of 1, resume 0 of 1." in text
    # The host's own speed is written beside the figures, and kept for the next bench.
    assert "took 0.50 s before the runs and 0.50 s after them (previous bench: not measured)" in text
    assert bench.previous_figures(out.read_text())["host_reference"] == "0.50 s"


def test_busy_share_of_the_cpus_from_proc_stat():
    first = bench.cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n")
    assert first == (1000, 800)
    # 200 more jiffies, 50 of them idle or waiting: 75 % busy.
    assert bench.busy(first, bench.cpu_times("cpu  200 0 150 740 110 0 0 0 0 0\n")) == pytest.approx(0.75)
    assert bench.busy(first, first) == 0.0
    assert 0 <= bench.busy(bench.cpu_times(), bench.cpu_times()) <= 1  # the real file parses


def test_settle_stops_once_the_host_is_quiet_and_never_waits_past_its_limit(monkeypatch):
    # Windows 90 % and 90 % busy, then 30 %: three windows, then it stops.
    marks = iter([(0, 0), (100, 10), (100, 10), (200, 20), (200, 20), (300, 90)])
    monkeypatch.setattr(bench, "cpu_times", lambda: next(marks))
    windows = []
    monkeypatch.setattr(bench.time, "sleep", windows.append)
    bench.settle(below=0.35, limit=60, window=2.0)
    assert windows == [2.0, 2.0, 2.0]
    # Always busy: it gives up at its limit.
    jiffies = iter(range(0, 10**6, 100))
    monkeypatch.setattr(bench, "cpu_times", lambda: (next(jiffies), 0))
    now = iter(range(0, 1000, 5))
    monkeypatch.setattr(bench.time, "monotonic", lambda: next(now))
    assert 20 <= bench.settle(below=0.35, limit=20) <= 30


def test_time_stolen_by_the_hypervisor_from_proc_stat():
    before = "cpu  100 0 100 700 100 0 0 0 0 0\n"
    # 400 more jiffies, 100 of them steal (the 8th field): a quarter stolen.
    assert bench.stolen(before, "cpu  200 0 150 750 200 0 0 100 0 0\n") == pytest.approx(0.25)
    assert bench.stolen(before, before) == 0.0


def test_the_host_reference_is_a_real_workload():
    """Fixed work, timed: a positive number of seconds, under a minute even on a slow host."""
    seconds = bench.host_reference(rounds=1)
    assert 0.0 < seconds < 60.0
