"""The lab.practice.* tasks: start, check, hint, solve, status."""
from __future__ import annotations

import contextlib
import json
import time

from rich.markup import escape
from rich.table import Table

from .. import commands as lab, texts
from ..runlog import LabError
from ..steps import Context, Problem, app_source, deploy, docker as docker_step
from . import (CURRENT, DONE, HINT_LEVELS, KEYS, SOLVED, STEPS, current, finish_step, forget, load, new_state,
               parse_from, require, rows, save, step)

console = lab.console


def say(key: str, lang: str, **params) -> str:
    return texts.word(key, lang, **params)


def node_label(node: str, lang: str) -> str:
    return {"every node": say("every_node", lang), "every worker": say("every_worker", lang),
            "host": say("host", lang)}.get(node, node)


def show_step(ctx: Context, key: str, lang: str) -> None:
    """The step's title, where to work, its text, and a stand-in if there is one."""
    data = texts.step(key, lang)
    number = KEYS.index(key)
    console.print(f"\n[bold]{say('step', lang)} {number}/{len(KEYS) - 1}: {escape(data['title'])}[/bold]")
    console.print(f"[dim]{say('where', lang)}: {escape(data['node'])}  ·  "
                  f"{say('reach', lang)}: invoke lab.ssh {ctx.config.manager.name}[/dim]")
    console.print(escape(data["text"].strip().format(**placeholders(ctx.config))))
    practice_step = step(key)
    stand_in = practice_step.stand_in(ctx) if practice_step.stand_in else None
    if stand_in:
        console.print(f"[yellow]{say('stand_in', lang)}:[/yellow] {escape(stand_in)}")
        if data.get("stand_in"):
            console.print(escape(data["stand_in"].strip().format(**placeholders(ctx.config))))
    console.print(f"[dim]{say('then', lang)}[/dim]")


def placeholders(c) -> dict:
    """What a step's text and hints may name: all of it from lab.yaml."""
    return {"manager": c.manager.name, "manager_ip": c.manager.address, "registry": c.registry,
            "export_path": c.export_path, "stack": c.stack_name, "web_url": c.web_url, "api_url": c.api_url,
            "repository": app_source.REPOSITORY, "clone": app_source.CLONE, "app_name": c.app_name,
            "stand_in_file": deploy.STAND_IN_FILE, "registry_port": c.registry_port,
            "workers": ", ".join(w.name for w in c.workers)}


def prepare(ctx: Context, key: str | None) -> None:
    if key is not None and step(key).prepare:
        with ctx.run.step(f"prepare: {key}") as s:
            step(key).prepare(ctx)
            s.detail = "ready for the trainee"


def context(config, run) -> Context:
    return lab.cluster_context(config, lab.reachable_cluster(config), run)


def bare(ctx: Context) -> bool:
    """Nothing of the module done yet: Docker is on no node."""
    return len(docker_step.missing_on(ctx)) == len(ctx.config.nodes)


def start(path: str, lang: str | None, start_at: str | None, reset: bool, explain: bool) -> None:
    config = lab.load_config(path)
    try:
        if lang is not None:
            texts.load(lang)
        first = parse_from(start_at)
    except (texts.UnknownLanguage, LabError) as exc:
        console.print(f"[red bold]error:[/red bold] {escape(str(exc))}")
        if isinstance(exc, LabError) and exc.hint:
            console.print(f"  next: {escape(exc.hint)}")
        raise SystemExit(2) from None
    with lab.lab_run(config, "practice.start", explain) as run:
        state = None if reset else load(config)
        if state is not None:
            ctx = lab.cluster_context(config, lab.bring_nodes_up(config, run), run)
            if lang:
                state["lang"] = lang
                save(config, state)
            key = current(state)
            lang = state["lang"]
            if key is None:
                console.print(say("all_done", lang))
                return
            console.print(say("continuing", lang, step=KEYS.index(key)))
            prepare(ctx, key)
            show_step(ctx, key, lang)
            return
        if reset:
            lab.destroy_nodes(config, run)
            forget(config)
        ctx = lab.cluster_context(config, lab.bring_nodes_up(config, run), run)
        if not bare(ctx):
            raise LabError("these nodes already have Docker: the module was done here (by lab.up or by hand)",
                           hint="start over on bare nodes with: invoke lab.practice.start --reset")
        for key in KEYS[:KEYS.index(first)]:
            prepare(ctx, key)
            step(key).solve(ctx)
        state = new_state(lang or "en", first)
        save(config, state)
        prepare(ctx, first)
        show_step(ctx, first, state["lang"])


def check(path: str, every: bool) -> None:
    config = lab.load_config(path)
    with lab.lab_run(config, "practice.check") as run:
        state = require(config)
        ctx = context(config, run)
        done = check_all(ctx, state) if every else check_current(ctx, state)
    if not done:
        raise SystemExit(1)


def check_current(ctx: Context, state: dict) -> bool:
    """The current step's check; on success the next step becomes current."""
    lang = state["lang"]
    key = current(state)
    if key is None:
        console.print(say("all_done", lang))
        return True
    problems = step(key).check(ctx)
    state["steps"][key]["attempts"] += 1
    if problems:
        save(ctx.config, state)
        console.print(f"[red]{say('not_yet', lang, step=KEYS.index(key))}[/red]")
        for p in problems:
            console.print(f"  ✗ {escape(describe(p, lang))}")
        console.print(f"[dim]{say('hint_next', lang)}[/dim]")
        return False
    following = finish_step(state, key, DONE)
    save(ctx.config, state)
    console.print(f"[green]✓ {say('done', lang, step=KEYS.index(key))}[/green]")
    if following is None:
        console.print(say("all_done", lang))
    else:
        prepare(ctx, following)
        show_step(ctx, following, lang)
    return True


def describe(problem: str, lang: str) -> str:
    if isinstance(problem, Problem):
        text = problem.say(lang)
        return f"[{problem.node}] {text}" if problem.node and not text.startswith(problem.node) else text
    return problem


def check_all(ctx: Context, state: dict) -> bool:
    lang = state["lang"]
    table = Table(say("step", lang), say("title", lang), say("progress", lang), say("check", lang), "s")
    found = []
    for number, s in enumerate(STEPS):
        began = time.monotonic()
        problems = s.check(ctx)
        found += [(number, p) for p in problems]
        table.add_row(str(number), texts.step(s.key, lang)["title"], state["steps"][s.key]["status"],
                      "✓" if not problems else f"✗ {len(problems)}", f"{time.monotonic() - began:.2f}")
    console.print(table)
    for number, p in found:
        console.print(f"  {number}: ✗ {escape(describe(p, lang))}")
    return not found


def hint(path: str, as_json: bool) -> None:
    config = lab.load_config(path)
    with lab.lab_run(config, "practice.hint") as run:
        state = require(config)
        lang = state["lang"]
        key = current(state)
        if key is None:
            console.print(say("all_done", lang))
            return
        entry = state["steps"][key]
        entry["hints"] = min(entry["hints"] + 1, HINT_LEVELS)
        save(config, state)
        level = entry["hints"]
        ladder = texts.step(key, lang)["hints"]
        answer = {"step": key, "level": level, "of": HINT_LEVELS}
        if level < HINT_LEVELS:
            answer["hint"] = ladder[level - 1].strip().format(**placeholders(config))
        else:
            # --json prints the answer alone: the probe's progress line stays in the run log.
            with console.capture() if as_json else contextlib.nullcontext():
                ctx = context(config, run)
            answer["solution"] = [[node, command] for node, command in step(key).solution(ctx)]
        if as_json:
            print(json.dumps(answer))
            return
        console.print(f"[bold]{say('hint', lang)} {level}/{HINT_LEVELS}[/bold]")
        if "hint" in answer:
            console.print(escape(answer["hint"]))
            return
        console.print(say("solution", lang))
        for node, command in answer["solution"]:
            console.print(f"  [dim]{escape(node_label(node, lang))}$[/dim] [cyan]{escape(command)}[/cyan]")


def solve(path: str, explain: bool) -> None:
    config = lab.load_config(path)
    with lab.lab_run(config, "practice.solve", explain) as run:
        state = require(config)
        lang = state["lang"]
        key = current(state)
        if key is None:
            console.print(say("all_done", lang))
            return
        ctx = context(config, run)
        prepare(ctx, key)
        step(key).solve(ctx)
        problems = step(key).check(ctx)
        if problems:
            raise LabError(f"step {key} is still not done after the lab solved it: {'; '.join(problems)}",
                           hint="see the full log; invoke lab.practice.solve again to retry")
        following = finish_step(state, key, SOLVED)
        save(config, state)
        console.print(f"[green]✓ {say('solved', lang, step=KEYS.index(key))}[/green]")
        if following is None:
            console.print(say("all_done", lang))
            return
        prepare(ctx, following)
        show_step(ctx, following, lang)


def status(path: str, as_json: bool) -> None:
    config = lab.load_config(path)
    state = load(config)
    if state is None:
        if as_json:
            print(json.dumps({"started": None, "steps": []}))
            return
        console.print("no guided practice on this lab yet: invoke lab.practice.start")
        return
    table_rows = rows(state)
    if as_json:
        print(json.dumps({"started": state["started"], "lang": state["lang"], "current": current(state),
                          "steps": table_rows}, indent=2))
        return
    lang = state["lang"]
    table = Table(say("step", lang), say("title", lang), say("progress", lang), say("attempts", lang),
                  say("time", lang), say("hints", lang))
    for r in table_rows:
        colour = {DONE: "green", SOLVED: "yellow", CURRENT: "bold"}.get(r["status"], "dim")
        table.add_row(str(r["step"]), r["title"], f"[{colour}]{r['status']}[/{colour}]", str(r["attempts"]),
                      f"{r['seconds']:.0f}s", str(r["hints"]))
    console.print(table)
