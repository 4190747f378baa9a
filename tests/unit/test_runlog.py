"""The run record: what lab.status and lab.report read back."""
import json

from rich.console import Console

from lab.runlog import Run


def test_run_json_keeps_the_start_time_and_the_result(tmp_path):
    run = Run(tmp_path, "up", console=Console(file=open(tmp_path / "out", "w")))
    with run.step("a step") as step:
        step.changed("done")
    run.finish("ok")
    meta = json.loads((run.dir / "run.json").read_text())
    assert meta["started"] == run.started.isoformat()
    assert meta["updated"] > meta["started"]
    assert meta["result"] == "ok" and meta["steps"] == 1 and meta["command"] == "up"
    assert (tmp_path / "runs" / "latest").resolve() == run.dir.resolve()
