"""Which lagging services lab.up forces new tasks for: the logic only, with
the manager's answers given (the real case runs in tests/lab/test_faults.py)."""
import json
from types import SimpleNamespace

from lab.steps import deploy


UPDATE_STARTED = 1_000_000


class Manager:
    """Answers `docker stack services` and `docker service ps` as a manager
    would, and records every `docker service update`."""

    def __init__(self, replicas: dict[str, str], meant: dict[str, int], updating: tuple = (),
                 tasks: dict[str, list[tuple[int, str]]] | None = None):
        self.replicas, self.meant, self.updates, self.updating = replicas, meant, [], updating
        # The tasks meant to run of services in an update: (created, state);
        # every update here started at UPDATE_STARTED.
        self.tasks = tasks or {}
        self.queries = []

    def __call__(self, command, **_):
        if command.startswith("t=$(docker service ps -q"):
            self.queries.append("tasks")
            names = [t.removeprefix("musicapp_").rstrip(")") for t in command.split() if t.startswith("musicapp_")]
            out = "\n".join(f"id-{n} {created} {state}" for n in names for created, state in self.tasks.get(n, []))
        elif command.startswith("docker stack services"):
            out = "\n".join(json.dumps({"Name": f"musicapp_{n}", "Replicas": r}) for n, r in self.replicas.items())
        elif command.startswith("docker service ps"):
            # Every service asked for at once, a task name per line
            # (replicated: service.slot; mesh, global: service.node id).
            self.queries.append("ps")
            names = [t.removeprefix("musicapp_") for t in command.split() if t.startswith("musicapp_")]
            out = "\n".join(f"musicapp_{n}.{i + 1 if n != 'mesh' else 'x9node' + str(i)}"
                            for n in names for i in range(self.meant[n]))
        elif command.startswith("docker service inspect"):
            self.queries.append("inspect")
            names = [t.removeprefix("musicapp_") for t in command.split() if t.startswith("musicapp_")]
            states = self.updating if isinstance(self.updating, dict) else dict.fromkeys(self.updating, "updating")
            out = "\n".join(f"musicapp_{n} id-{n} 1 " + (f"{states[n]} {UPDATE_STARTED}" if n in states else "")
                            for n in names)
        else:
            self.updates.append(command)
            out = ""
        return SimpleNamespace(stdout=out, out=out.strip(), ok=True)


def context(manager):
    notes = []
    run = SimpleNamespace(note=notes.append)
    return SimpleNamespace(config=SimpleNamespace(stack_name="musicapp"), manager_sh=manager, run=run), notes


def test_a_service_whose_tasks_are_still_pulling_is_left_alone():
    manager = Manager({"backend": "0/2", "db": "0/1"}, meant={"backend": 2, "db": 1})
    ctx, notes = context(manager)
    assert deploy.restart_stopped(ctx, {"backend": "0/2", "db": "0/1"}, {"backend": 2, "db": 1}) == []
    assert manager.updates == [] and notes == []


def test_a_service_with_a_task_that_exited_and_none_coming_is_forced():
    manager = Manager({"backend": "1/2", "frontend": "1/2"}, meant={"backend": 1, "frontend": 2})
    ctx, notes = context(manager)
    assert deploy.restart_stopped(ctx, {"backend": "1/2", "frontend": "1/2"}, {"backend": 2, "frontend": 2}) == ["backend"]
    assert manager.updates == ["docker service update --force --detach musicapp_backend"]
    assert "musicapp_backend: 1 of 2 tasks meant to run" in notes[0]


def test_a_service_the_stack_no_longer_has_is_not_touched():
    manager = Manager({"backend": "2/2"}, meant={"backend": 2})
    ctx, _ = context(manager)
    assert deploy.restart_stopped(ctx, {"gone": "0/1"}, {"gone": 1}) == []
    assert manager.updates == []


def test_a_global_service_whose_only_task_completed_is_forced():
    # After lab.down the manager's engine stopped: mesh's task exited 0 and
    # swarm reports the global service as 0/0, not 0/1.
    manager = Manager({"mesh": "0/0", "backend": "2/2"}, meant={"mesh": 0, "backend": 2})
    ctx, notes = context(manager)
    assert deploy.restart_stopped(ctx, {"mesh": "0/0 (the stack file asks for 1)"}, {"mesh": 1, "backend": 2}) \
        == ["mesh"]
    assert manager.updates == ["docker service update --force --detach musicapp_mesh"]
    assert "musicapp_mesh: 0 of 1 tasks meant to run" in notes[0]


def test_a_global_service_with_its_task_on_the_way_is_left_alone():
    manager = Manager({"mesh": "0/1"}, meant={"mesh": 1})
    ctx, _ = context(manager)
    assert deploy.restart_stopped(ctx, {"mesh": "0/1"}, {"mesh": 1}) == []
    assert manager.updates == []


def test_a_service_in_the_middle_of_an_update_is_left_to_finish_it():
    # A forced update stops a task before it starts its replacement: fewer
    # tasks are meant to run for a moment, and forcing again would restart it.
    manager = Manager({"backend": "1/2"}, meant={"backend": 1}, updating=("backend",))
    ctx, _ = context(manager)
    assert deploy.restart_stopped(ctx, {"backend": "1/2"}, {"backend": 2}) == []
    assert manager.updates == []


def test_a_service_with_none_running_gets_all_its_tasks_at_once():
    # After lab.down: no replica serves, so nothing is lost by starting every
    # one together instead of one after another (a forced update's order).
    manager = Manager({"backend": "0/2", "frontend": "1/2", "db": "0/1"},
                      meant={"backend": 1, "frontend": 1, "db": 0})
    ctx, notes = context(manager)
    assert deploy.restart_stopped(ctx, {"backend": "0/2", "frontend": "1/2", "db": "0/1"},
                                  {"backend": 2, "frontend": 2, "db": 1}) == ["backend", "frontend", "db"]
    assert manager.updates == [
        "docker service update --force --detach --update-parallelism 0 musicapp_backend",
        "docker service update --force --detach musicapp_frontend",
        "docker service update --force --detach musicapp_db",
    ]
    assert "forcing new tasks, all at once" in notes[0] and "all at once" not in notes[1]
    # Once converged, the service's own parallelism (the stack file's) is back.
    deploy.restore_parallelism(ctx)
    assert manager.updates[-1] == "docker service update --detach --update-parallelism 1 musicapp_backend"
    deploy.restore_parallelism(ctx)
    assert len(manager.updates) == 4


def test_the_manager_is_asked_once_for_all_lagging_services():
    # After lab.down all five app services lag: two queries for all of them,
    # not a few per service (each is a round trip to the manager).
    lag = {"db": "0/1", "backend": "0/2", "frontend": "0/2", "nginx-frontend": "0/1", "mesh": "0/0"}
    manager = Manager(lag, meant={"db": 0, "backend": 0, "frontend": 0, "nginx-frontend": 1, "mesh": 1})
    ctx, _ = context(manager)
    forced = deploy.restart_stopped(ctx, lag, {"db": 1, "backend": 2, "frontend": 2, "nginx-frontend": 1, "mesh": 1})
    assert forced == ["db", "backend", "frontend"]
    assert sorted(manager.queries) == ["inspect", "ps"]


def test_an_update_that_has_replaced_every_task_is_over_while_swarm_still_monitors(monkeypatch):
    # After lab.down the lab forced new tasks: backend's two and db's one are
    # new and running, swarm only watches them (its update monitor) before it
    # says "completed". frontend still runs a task from before the update, and
    # mesh's new task is still starting: both are still in their update.
    new, old = UPDATE_STARTED + 5, UPDATE_STARTED - 5
    manager = Manager({"backend": "2/2", "db": "1/1", "frontend": "2/2", "mesh": "1/1"},
                      meant={}, updating=("backend", "db", "frontend", "mesh"),
                      tasks={"backend": [(new, "running"), (new, "running")], "db": [(new, "running")],
                             "frontend": [(new, "running"), (old, "running")], "mesh": [(new, "starting")]})
    ctx, _ = context(manager)
    wanted = {"backend": 2, "db": 1, "frontend": 2, "mesh": 1}
    monkeypatch.setattr(deploy.stack, "expected_replicas", lambda rendered, workers: wanted)
    ctx.config.workers = ["w1", "w2", "w3"]
    assert deploy.lagging(ctx, rendered=None) == {"frontend": "update updating", "mesh": "update updating"}
    # a service short of its replicas lags whatever its update says
    manager.replicas["backend"] = "1/2"
    assert set(deploy.lagging(ctx, rendered=None)) == {"backend", "frontend", "mesh"}
    manager.replicas["backend"] = "2/2"
    # stop-first: the old frontend task stopped, its replacement not made yet
    # (swarm may still count the stopping one as running)
    manager.tasks["frontend"] = [(new, "running")]
    assert set(deploy.lagging(ctx, rendered=None)) == {"frontend", "mesh"}
    # every task new and running: nothing lags
    manager.tasks["frontend"] = [(new, "running"), (new, "running")]
    manager.tasks["mesh"] = [(new, "running")]
    assert deploy.lagging(ctx, rendered=None) == {}
    assert manager.queries.count("tasks") == manager.queries.count("inspect") == 4  # one of each per read
    # a rollback's new tasks are the old spec back: it is never taken for over
    manager.updating = {"backend": "rollback_started"}
    assert deploy.lagging(ctx, rendered=None) == {"backend": "update rollback_started"}


def test_services_in_no_update_ask_nothing_of_their_tasks(monkeypatch):
    manager = Manager({"backend": "2/2"}, meant={})
    ctx, _ = context(manager)
    ctx.config.workers = ["w1"]
    monkeypatch.setattr(deploy.stack, "expected_replicas", lambda rendered, workers: {"backend": 2})
    assert deploy.lagging(ctx, rendered=None) == {}
    assert "tasks" not in manager.queries
