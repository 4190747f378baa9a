"""Guided practice without nodes: its texts in both languages, the logic of
its progress, the checks' parsing of what a trainee wrote, and bad input.
(The real thing, typed on four nodes, is tests/practice.)"""
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lab import practice, texts
from lab.runlog import LabError
from lab.steps import Problem, frontend_env, server_name

ROOT = Path(__file__).resolve().parents[2]
STEP_SOURCES = sorted((ROOT / "lab" / "steps").glob("*.py"))


def keys(tree, prefix=""):
    if isinstance(tree, dict):
        return {k for key, value in tree.items() for k in keys(value, f"{prefix}{key}.")} | \
            {f"{prefix}{key}" for key in tree}
    if isinstance(tree, list):
        return {f"{prefix}[{len(tree)}]"}
    return set()


def test_both_languages_have_the_same_texts():
    en, id_ = texts.load("en"), texts.load("id")
    assert keys(en) == keys(id_)
    assert en["steps"]["docker"]["text"] != id_["steps"]["docker"]["text"]


def test_every_practice_step_has_a_title_a_node_a_text_and_two_hints_in_both_languages():
    for lang in texts.LANGUAGES:
        for key in practice.KEYS:
            data = texts.step(key, lang)
            assert data["title"] and data["node"] and data["text"], (lang, key)
            assert len(data["hints"]) == practice.HINT_LEVELS - 1, (lang, key)


def used_problem_keys():
    found = set()
    for source in STEP_SOURCES:
        found |= set(re.findall(r'Problem\("([a-z_]+)"', source.read_text()))
    assert len(found) > 30, found
    return found


def test_every_message_a_check_can_give_exists_and_formats_in_both_languages():
    for lang in texts.LANGUAGES:
        messages = texts.load(lang)["messages"]
        for key in used_problem_keys():
            assert key in messages, (lang, key)
            params = set(re.findall(r"{(\w+)}", messages[key]))
            text = messages[key].format(**{p: f"<{p}>" for p in params})
            assert "<" in text or not params


def test_a_problem_reads_as_english_and_says_itself_in_indonesian():
    p = Problem("registry_unreadable", node="worker2", registry="192.168.56.10:4000")
    assert p == "worker2 cannot read http://192.168.56.10:4000/v2/_catalog"
    assert p.say("id") == "worker2 tidak bisa membaca http://192.168.56.10:4000/v2/_catalog"
    assert p.key == "registry_unreadable" and p.node == "worker2"


def test_an_unknown_language_is_refused_by_name():
    with pytest.raises(texts.UnknownLanguage, match="'fr'.*en, id"):
        texts.load("fr")


# -- server_name: a valid conf, whatever the name --------------------------------

def test_the_confs_as_shipped_and_with_a_domain_are_valid():
    for conf in ("nginx-frontend.conf", "nginx-backend.conf"):
        text = (ROOT / "nginx" / conf).read_text()
        assert server_name.conf_problems(text) == []
        assert server_name.conf_problems(text.replace("server_name localhost;", "server_name music.example.id;")) == []


@pytest.mark.parametrize("change, reason", [
    ("server_name localhost", "no closing ;"),
    ("server_name music lab!;", "not a host name: lab!"),
    ("server_name ;", "no name"),
])
def test_a_broken_server_name_is_named(change, reason):
    text = (ROOT / "nginx" / "nginx-frontend.conf").read_text().replace("server_name localhost;", change)
    assert any(reason in p for p in server_name.conf_problems(text)), server_name.conf_problems(text)


def test_an_unclosed_brace_is_named():
    text = (ROOT / "nginx" / "nginx-frontend.conf").read_text().rstrip().removesuffix("}")
    assert "a { is never closed" in server_name.conf_problems(text)


# -- the frontend's .env -----------------------------------------------------------

def ctx():
    config = SimpleNamespace(api_url="http://127.0.0.1:8001/", host_ports=SimpleNamespace(api=8001),
                             manager=SimpleNamespace(name="manager", address="192.168.56.10"))
    return SimpleNamespace(config=config)


def test_env_values_are_read_with_or_without_quotes():
    assert frontend_env.parse('# c\nAPP_NAME="Music"\nAPI_ENDPOINT=http://x/\n') == \
        {"APP_NAME": "Music", "API_ENDPOINT": "http://x/"}


@pytest.mark.parametrize("value", ["http://127.0.0.1:8001/", "http://localhost:8001/", "http://192.168.56.10:8080/"])
def test_addresses_a_browser_here_reaches_are_accepted(value):
    assert frontend_env.endpoint_problem(ctx(), value) is None


@pytest.mark.parametrize("value, key", [
    ("http://localhost:8080/", "env_api_localhost"),
    ("http://127.0.0.1:5000/", "env_api_localhost"),
    ("http://192.168.56.10:8080", "env_api_slash"),
    ("http://backend:5000/", "env_api_other"),
    ("", "env_no_api"),
])
def test_addresses_a_browser_cannot_use_are_named(value, key):
    assert frontend_env.endpoint_problem(ctx(), value).key == key


# -- progress ------------------------------------------------------------------------

def test_from_a_late_step_marks_the_earlier_ones_solved_and_makes_it_current():
    state = practice.new_state("id", "registry")
    statuses = [state["steps"][k]["status"] for k in practice.KEYS]
    assert statuses[:5] == [practice.SOLVED] * 5
    assert statuses[5] == practice.CURRENT and set(statuses[6:]) == {practice.NOT_STARTED}
    assert practice.current(state) == "registry"


def test_finishing_a_step_makes_the_next_current_and_counts_its_time():
    state = practice.new_state("en", "docker")
    state["steps"]["docker"]["since"] -= 30
    assert practice.finish_step(state, "docker", practice.DONE) == "swarm"
    assert state["steps"]["docker"]["status"] == practice.DONE
    assert state["steps"]["docker"]["seconds"] >= 30
    assert practice.current(state) == "swarm"
    row = practice.rows(state)[0]
    assert row["title"] == "Install Docker on every node" and row["status"] == practice.DONE


def test_the_last_step_leaves_nothing_current():
    state = practice.new_state("en", "verify")
    assert practice.finish_step(state, "verify", practice.SOLVED) is None
    assert practice.current(state) is None


def test_from_takes_a_key_or_a_number_and_refuses_anything_else():
    assert practice.parse_from("7") == "images" and practice.parse_from("nfs") == "nfs"
    with pytest.raises(LabError, match="no such step"):
        practice.parse_from("kubernetes")


# -- bad input, through the real command line -----------------------------------------

def lab_file(tmp_path):
    data = yaml.safe_load((ROOT / "lab.yaml").read_text())
    data.update(name="practiceunit", network="192.168.59.0/24", host_ports={"web": 8250, "api": 8251})
    for i, node in enumerate(data["nodes"]):
        node["address"] = f"192.168.59.{10 + i}"
    shutil.copy(ROOT / "Vagrantfile", tmp_path / "Vagrantfile")
    path = tmp_path / "lab.practiceunit.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def invoke(*args):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("task", ["check", "hint", "solve"])
def test_a_practice_command_before_start_says_how_to_start(tmp_path, task):
    path = lab_file(tmp_path)
    result = invoke(f"lab.practice.{task}", "--config", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no guided practice on this lab yet" in result.stdout
    assert "invoke lab.practice.start" in result.stdout
    assert not (tmp_path / ".lab" / "labs" / "practiceunit" / "practice.json").exists()


@pytest.mark.parametrize("args, said", [
    (["--lang", "fr"], "--lang 'fr': the texts exist in en, id"),
    (["--from", "kubernetes"], "--from 'kubernetes': no such step"),
])
def test_start_with_bad_input_changes_nothing(tmp_path, args, said):
    path = lab_file(tmp_path)
    result = invoke("lab.practice.start", "--config", str(path), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stdout
    assert not (tmp_path / ".lab").exists() and not (tmp_path / ".vagrant-practiceunit").exists()


def test_lab_up_on_a_lab_in_practice_asks_for_yes_on_a_terminal(tmp_path, monkeypatch, capsys):
    from lab import commands, config as cfg
    config = cfg.load(lab_file(tmp_path))
    practice.save(config, practice.new_state("en", "nfs"))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: True))
    with pytest.raises(SystemExit) as stop:
        commands.practice_guard(config, yes=False)
    assert stop.value.code == 1
    out = capsys.readouterr().out
    assert "guided practice (step 6: nfs)" in out and "--yes" in out
    commands.practice_guard(config, yes=True)
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: False))
    commands.practice_guard(config, yes=False)


def test_a_lab_not_in_practice_is_not_asked(tmp_path, monkeypatch):
    from lab import commands, config as cfg
    config = cfg.load(lab_file(tmp_path))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: True))
    commands.practice_guard(config, yes=False)
    state = practice.new_state("en", "verify")
    practice.finish_step(state, "verify", practice.DONE)
    practice.save(config, state)
    commands.practice_guard(config, yes=False)
