"""The lab's side: start at a late step (the lab does the ones before it),
solve steps for a stuck trainee, lab.up finishing a practice, and the
practice forgotten with the nodes."""
import pytest

from .conftest import check, invoke, status

pytestmark = pytest.mark.slow


def test_start_from_a_late_step_does_the_earlier_ones(config, trainee):
    out = invoke("lab.practice.start", "--reset", "--from", "images", "--lang", "id").stdout
    assert "Langkah 7/9: Bangun lima image dan dorong ke registry" in out
    s = status()
    assert [s[k]["status"] for k in list(s)[:7]] == ["solved by the lab"] * 7
    assert s["images"]["status"] == "current"
    # Real state: the steps the lab did pass their checks; the stack is not there.
    out = invoke("lab.practice.check", "--all", check=False)
    assert out.returncode == 1
    assert "  8: ✗" in out.stdout and not any(f"  {n}: ✗" in out.stdout for n in range(7))
    assert f"belum ada stack {config.stack_name} yang di-deploy" in out.stdout


def test_a_second_start_continues_where_it_stopped(config):
    out = invoke("lab.practice.start").stdout
    assert "Latihan terpandu dilanjutkan dari tempat terakhir: langkah 7." in out


@pytest.mark.parametrize("key, number", [("images", 7), ("deploy", 8)])
def test_solve_does_the_step_and_marks_it(config, key, number):
    assert status()[key]["status"] == "current"
    out = invoke("lab.practice.solve").stdout
    assert f"Langkah {number} diselesaikan oleh lab." in out
    assert status()[key]["status"] == "solved by the lab"


def test_lab_up_on_a_lab_in_practice_finishes_it_and_says_so(config):
    assert status()["verify"]["status"] == "current"
    out = invoke("lab.up").stdout
    assert "this lab is in guided practice (step 9: verify)" in out
    assert "lab.up would finish the remaining steps for the trainee" in out
    assert set(v["status"] for v in status().values()) == {"solved by the lab"}
    assert "Semua langkah selesai" in check(True)


def test_every_step_checks_green_after_the_lab_solved_them(config):
    result = invoke("lab.practice.check", "--all", check=False)
    assert result.returncode == 0, result.stdout
    assert "✗" not in result.stdout


def test_destroying_the_nodes_ends_the_practice(config):
    invoke("lab.destroy")
    assert invoke("lab.practice.status", "--json").stdout.strip() == '{"started": null, "steps": []}'
    result = invoke("lab.practice.check", check=False)
    assert result.returncode == 1 and "no guided practice on this lab yet" in result.stdout
