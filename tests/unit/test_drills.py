"""The drills' logic without a lab: measurements, timelines, the journal of
changes and its undo order, counts, texts, the dashboard's view."""
import json
from pathlib import Path

import pytest
import yaml

from lab import config as cfg
from lab import dashboard
from lab.drills import DRILLS, command, journal, ledger, measure, runner, state

ROOT = Path(__file__).resolve().parents[2]


def samples(url, pattern, step=0.2):
    return [measure.Sample(i * step, url, ok == "+") for i, ok in enumerate(pattern)]


def test_longest_gap_runs_from_the_last_good_answer_to_the_next():
    s = samples("a", "++---++-+")
    # good at 0.2, failures 0.4-0.8, good again at 1.0: 0.8 s without an answer
    assert measure.longest_gap(s, "a") == pytest.approx(0.8)


def test_longest_gap_is_zero_without_failures_and_counts_an_open_end():
    assert measure.longest_gap(samples("a", "+++++"), "a") == 0
    assert measure.longest_gap(samples("a", "++---"), "a") == pytest.approx(0.6)
    assert measure.longest_gap(samples("a", "---"), "a") == pytest.approx(0.4)


def test_longest_gap_is_per_url():
    s = samples("a", "+-+") + samples("b", "+--+")
    assert measure.longest_gap(s, "a") == pytest.approx(0.4)
    assert measure.longest_gap(s, "b") == pytest.approx(0.6)
    loop = measure.ProbeLoop(["a", "b"], samples=s)
    assert loop.failed == 3 and loop.total == 7 and loop.longest_gap() == pytest.approx(0.6)


@pytest.mark.parametrize("managers,need,lose", [(1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2)])
def test_raft_quorum(managers, need, lose):
    assert measure.quorum(managers) == (need, lose)


def test_docker_timestamps_with_nanoseconds():
    a = measure.parse_time("2026-12-01T13:00:00.123456789Z")
    b = measure.parse_time("2026-12-01T13:00:01.5Z")
    assert b - a == pytest.approx(1.376544, abs=1e-5)
    assert measure.parse_time("2026-12-01T13:00:00Z") == pytest.approx(a - 0.123456, abs=1e-5)


def task(tid, st, at, desired="running", node="n1"):
    return {"ID": tid, "ServiceID": "svc", "NodeID": node, "DesiredState": desired,
            "CreatedAt": "2026-12-01T13:00:00Z", "Status": {"State": st, "Timestamp": f"2026-12-01T13:00:{at:02d}Z"}}


def test_a_timeline_keeps_each_state_once_with_its_own_time_and_node():
    lines = {}
    for poll in ([task("t1", "pending", 0)], [task("t1", "pending", 0)], [task("t1", "running", 3)],
                 [task("t1", "running", 3, desired="remove")], [task("t1", "running", 3, desired="remove")],
                 [task("t1", "shutdown", 9, desired="remove")]):
        measure.record(lines, poll, {"n1": "worker1"})
    line = lines["t1"]
    assert [s for s, _, _ in line.events] == ["pending", "running", "remove", "shutdown"]
    assert line.events[1] == ("running", "worker1", 3.0)
    assert line.line().startswith("PENDING (worker1, 0.0s) -> RUNNING (worker1, 3.0s)")
    assert measure.states_seen(lines) == {"pending", "running", "shutdown", "remove"}


def test_spacing_of_replacements():
    assert measure.spacing([10.0, 3.0, 16.5]) == [7.0, 6.5]
    assert measure.spacing([1.0]) == []


def test_task_rows_and_snapshot_parse():
    rows = [{"ID": "a", "Name": "musicapp_backend.2", "Node": "worker1", "CurrentState": "Running 5 minutes ago",
             "DesiredState": "Running", "Image": "r:4000/backend:latest"},
            {"ID": "b", "Name": "musicapp_mesh.x1y2", "Node": "manager", "CurrentState": "Preparing 1 second ago",
             "DesiredState": "Running", "Image": "r:4000/mesh"}]
    text = json.dumps({"Hostname": "worker1", "Status": "Ready"}) + "\n--- tasks\n" + "\n".join(map(json.dumps, rows))
    node_rows, tasks = state.parse_snapshot(text)
    assert [r["Hostname"] for r in node_rows] == ["worker1"]
    assert [(t.service, t.slot, t.state, t.running) for t in tasks] == [
        ("musicapp_backend", "2", "running", True), ("musicapp_mesh", "x1y2", "preparing", False)]
    assert state.placement(tasks) == "worker1 1"


def test_the_journal_writes_each_change_once_and_forgets_it_when_undone(tmp_path):
    jr = journal.Journal(tmp_path / "j.json")
    a = jr.add("availability", node="worker2")
    jr.add("availability", node="worker2")
    b = jr.add("service", name="drill-web")
    assert jr.entries() == [a, b]
    jr.remove(a)
    assert jr.entries() == [b]


def test_undo_order_starts_a_stopped_node_and_removes_services_before_networks():
    entries = [{"undo": "availability", "node": "w1"}, {"undo": "network", "name": "n"},
               {"undo": "service", "name": "s1"}, {"undo": "service", "name": "s2"},
               {"undo": "node_stop", "node": "w2"}, {"undo": "promote", "node": "w3"}]
    assert [journal.describe(e) for e in journal.ordered(entries)] == [
        "node_stop w2", "service s2", "service s1", "network n", "availability w1", "promote w3"]


def test_restore_undoes_everything_and_keeps_what_failed_for_the_next_run(tmp_path, monkeypatch):
    jr = journal.Journal(tmp_path / "j.json")
    jr.add("availability", node="w1")
    jr.add("service", name="drill-web")
    done = []
    monkeypatch.setattr(journal, "scratch_leftovers", lambda ctx: [{"undo": "service", "name": "drill-left"}])
    monkeypatch.setitem(journal.UNDO, "service", lambda ctx, e: done.append(e["name"]) or e["name"] != "drill-web")

    def broken(ctx, e):
        raise RuntimeError("manager busy")
    monkeypatch.setitem(journal.UNDO, "availability", broken)

    class Ctx:
        cluster = object()
    with pytest.raises(RuntimeError):
        journal.restore(Ctx(), jr)
    assert sorted(done) == ["drill-left", "drill-web"]
    assert jr.entries() == [{"undo": "availability", "node": "w1"}]
    monkeypatch.setitem(journal.UNDO, "availability", lambda ctx, e: done.append(e["node"]) or True)
    assert journal.restore(Ctx(), jr) == ["service drill-left", "availability w1"]
    assert jr.entries() == []


def test_nothing_lost_counts_users_that_log_in_and_their_playlists(monkeypatch):
    answers = {"u1": 2, "u2": None, "u3": 1}
    monkeypatch.setattr(ledger, "playlists_of", lambda config, user, timeout=10: answers[user["username"]])
    count = ledger.count(None, [{"username": u} for u in answers])
    assert (count.users, count.playlists, count.missing) == (2, 3, ("u2",))
    assert str(count) == "2 users, 3 playlists"


def test_every_drill_has_its_texts_in_both_languages():
    data = yaml.safe_load(runner.TEXTS.read_text())
    assert set(data["drills"]) == set(DRILLS)
    for name, entry in data["drills"].items():
        assert set(entry) == set(runner.LANGUAGES), name
        for lang in runner.LANGUAGES:
            assert set(entry[lang]) == {"title", "summary", "explain"}, (name, lang)
            assert all(entry[lang][k].strip() for k in entry[lang]), (name, lang)
        assert entry["en"]["explain"] != entry["id"]["explain"]
    assert set(data["common"]["en"]) == set(data["common"]["id"])
    for lang in runner.LANGUAGES:
        promote = data["drills"]["promote"][lang]["explain"]
        assert "quorum 2" in promote and "quorum 3" in promote


def test_an_unknown_drill_is_refused_with_the_list(capsys):
    with pytest.raises(SystemExit) as exc:
        command.drill(str(ROOT / "lab.yaml"), "bogus", False, "en")
    assert exc.value.code == 2
    out = capsys.readouterr().out
    assert "no drill named 'bogus'" in out
    assert all(name in out for name in DRILLS)


def test_the_dashboard_draws_lab_yaml_nodes_in_order_with_their_tasks():
    config = cfg.load(ROOT / "lab.yaml")
    rows = [{"Hostname": "manager", "Status": "Ready", "Availability": "Active", "ManagerStatus": "Leader"},
            {"Hostname": "worker2", "Status": "Down", "Availability": "Drain", "ManagerStatus": ""}]
    tasks = [state.Task("1", "musicapp_backend", "1", "worker1", "running", "running", "r/backend:latest@sha256:x"),
             state.Task("2", "drill-web", "2", "worker1", "starting", "running", "r/backend:latest")]
    view = dashboard.view(config, rows, tasks, {"line": "drain: ..."})
    assert [c["name"] for c in view["nodes"]] == ["manager", "worker1", "worker2", "worker3"]
    w1 = view["nodes"][1]
    assert [(t["service"], t["slot"], t["stack"]) for t in w1["tasks"]] == [("backend", "1", True),
                                                                           ("drill-web", "2", False)]
    assert w1["tasks"][0]["image"] == "r/backend:latest"
    assert view["nodes"][2]["status"] == "Down" and view["nodes"][2]["availability"] == "Drain"
    assert view["nodes"][0]["manager_status"] == "Leader"
    assert view["nodes"][3]["status"] == "unknown" and view["line"] == {"line": "drain: ..."}


def test_ctrl_c_during_a_remote_command_is_kept_until_it_returns():
    interrupts = runner.Interrupts()
    with pytest.raises(KeyboardInterrupt):
        interrupts.handler(2, None)
    interrupts.inside = 1
    interrupts.handler(2, None)
    interrupts.after_command()  # still inside the command: nothing yet
    interrupts.inside = 0
    with pytest.raises(KeyboardInterrupt):
        interrupts.after_command()
    interrupts.after_command()  # raised once, not again while putting the lab back
