"""wait_converged names a Docker 20.10 engine stall only when convergence was
slow: the engines' logs are not read on a deploy that converged quickly."""
from types import SimpleNamespace

from lab.steps import deploy


class Clock:
    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def converge_once(monkeypatch, seconds_per_tick):
    notes, looked = [], []
    ctx = SimpleNamespace(patience=1.0, run=SimpleNamespace(note=notes.append),
                          config=SimpleNamespace(stack_name="musicapp", workers=[1, 2, 3]))
    monkeypatch.setattr(deploy.stack, "expected_replicas", lambda rendered, workers: {"db": 1})
    monkeypatch.setattr(deploy, "lagging", lambda ctx, rendered: {})
    monkeypatch.setattr(deploy, "restore_parallelism", lambda ctx: None)
    monkeypatch.setattr(deploy, "engine_stalls", lambda ctx, seconds: looked.append(seconds) or ["worker3"])
    monkeypatch.setattr(deploy.time, "monotonic", Clock(seconds_per_tick))
    deploy.wait_converged(ctx, rendered=None, seconds=600)
    return notes, looked


def test_a_slow_convergence_names_the_stalled_engine(monkeypatch):
    notes, looked = converge_once(monkeypatch, seconds_per_tick=10.0)
    assert looked and looked[0] > deploy.SLOW_CONVERGE
    assert any(n.startswith("worker3: the engine waited 30 s") and "moby/moby#47396" in n for n in notes), notes


def test_a_quick_convergence_does_not_read_the_logs(monkeypatch):
    notes, looked = converge_once(monkeypatch, seconds_per_tick=0.5)
    assert looked == []
    assert not any("engine waited" in n for n in notes)
    assert "musicapp_db: 1/1 running (0s)" in notes[0] or "musicapp_db: 1/1 running (1s)" in notes[0]
