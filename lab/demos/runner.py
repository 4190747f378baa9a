"""`invoke lab.demo`: deploy a demo's stack, read what its programs report,
remove the stack.

Every demo runs the same way: leftovers of an earlier demo (Ctrl-C, --keep)
are removed first; the lab-demo image is built on the manager and pushed to
the lab registry unless the registry already holds that build; the stack is
deployed; the lab polls `docker service logs` until every producer and
consumer has printed its DEMO-REPORT line; the stack, its networks and its
volumes on every node are removed (unless --keep). Delivery is asserted from
the consumer's own report, never from the producer's.
"""
from __future__ import annotations

import io
import json
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.markup import escape

from ..bench import machine
from ..remote import on_each
from ..runlog import LabError, Run
from ..steps import Context
from ..steps.app_images import AppImage, build_and_push
from ..build import ensure_base
from . import stacks
from .measure import MAX_COUNT, MAX_SIZE, MIN_COUNT, MIN_SIZE
from .stacks import DEMOS, NAMES, EXPORT_SUBDIR, Settings
from .table import LANGUAGES, Row, judge, markdown, note_text, say, section, verdict_text, write_section

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs" / "demos.md"
PREFIX = "demo-"
REPORT = "DEMO-REPORT "
DEFAULT_MESSAGES = 200
DEFAULT_SIZE = 64
# Past the programs' own deadline: the first pull of the image by a worker.
PULL_SECONDS = 180
REMOVE_SECONDS = 90


class BadInput(ValueError):
    """A demo name or a number the lab refuses before it touches anything."""


def whole_number(value, what: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be a whole number, got {value!r}") from None


def validate(name: str | None, messages: int, size: int, lang: str) -> list[str]:
    """The demos to run, or BadInput naming what is allowed."""
    if lang not in LANGUAGES:
        raise BadInput(f"unknown language {lang!r}; choose one of: {', '.join(LANGUAGES)}")
    if not name:
        raise BadInput(f"name a demo: {', '.join(NAMES)} or all (or --list)")
    if name != "all" and name not in DEMOS:
        raise BadInput(f"unknown demo {name!r}; the demos are: {', '.join(NAMES)} (or all)")
    if not MIN_COUNT <= messages <= MAX_COUNT:
        raise BadInput(f"messages (N) must be between {MIN_COUNT} and {MAX_COUNT}, got {messages}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise BadInput(f"size (S) must be between {MIN_SIZE} and {MAX_SIZE} bytes, got {size}")
    return list(NAMES) if name == "all" else [name]


def listing(lang: str) -> list[str]:
    return [f"{n:<11} {say(f'demos.{n}.title', lang)}" for n in NAMES]


def deadline_for(messages: int) -> int:
    """Seconds a demo program may run: generous for a slow class machine,
    bounded so nothing hangs."""
    return 90 + int(messages * 0.05)


# -- the lab must be up ------------------------------------------------------

def require_swarm(ctx: Context) -> None:
    state = ctx.manager_sh("docker info --format '{{.Swarm.LocalNodeState}}'", check=False, teach=False).out
    if state != "active":
        raise LabError(f"the lab is not up: the manager is not in a swarm ({state or 'no answer'})",
                       hint="bring it up with: invoke lab.up")
    answer = ctx.manager_sh(f"curl -fsS http://{ctx.config.registry}/v2/", check=False, teach=False)
    if not answer.ok:
        raise LabError(f"the lab is not up: the registry {ctx.config.registry} does not answer",
                       hint="bring it up with: invoke lab.up")
    if len(ctx.config.workers) < 2:
        raise LabError("the demos need at least two workers (lab.yaml has "
                       f"{len(ctx.config.workers)})", hint="add a worker to lab.yaml and run invoke lab.up")


def demo_image(ctx: Context) -> str:
    files = {"Dockerfile": HERE / "image" / "Dockerfile", "demo.py": HERE / "image" / "demo.py",
             "mosquitto.conf": HERE / "image" / "mosquitto.conf", "measure.py": HERE / "measure.py"}
    ensure_base(ctx, ctx.config.manager.name)
    build_and_push(ctx, AppImage(stacks.IMAGE, files))
    return f"{ctx.config.registry}/{stacks.IMAGE}:latest"


# -- removal -----------------------------------------------------------------

def stacks_left(ctx: Context) -> list[str]:
    out = ctx.manager_sh("docker stack ls --format '{{.Name}}'", check=False, teach=False)
    return [s for s in out.stdout.split() if s in {PREFIX + n for n in NAMES}]


def clear_volumes(ctx: Context, pattern: str) -> None:
    """Stack volumes stay on each node after `docker stack rm`; they go once
    the containers using them are gone (which takes a few seconds)."""
    script = (f"for i in $(seq {REMOVE_SECONDS}); do v=$(docker volume ls -q | grep -E '{pattern}'); "
              "[ -z \"$v\" ] && exit 0; docker volume rm $v >/dev/null 2>&1 || sleep 1; done; "
              "docker volume ls -q | grep -E '" + pattern + "'; exit 1")
    on_each(ctx.config.nodes, lambda n: ctx.sh(n.name, script, teach=False, timeout=REMOVE_SECONDS + 30))


def remove_stack(ctx: Context, stack: str) -> None:
    m = ctx.config.manager.name
    ctx.run.show_command(m, f"docker stack rm {stack}")
    ctx.manager_sh(f"docker stack rm {stack}", check=False, teach=False)
    label = f"label=com.docker.stack.namespace={stack}"
    deadline = time.monotonic() + REMOVE_SECONDS
    while True:
        left = ctx.manager_sh(f"docker service ls -q --filter {label}; docker network ls -q --filter {label}",
                              check=False, teach=False).out
        if not left:
            break
        if time.monotonic() > deadline:
            raise LabError(f"{stack} was not removed within {REMOVE_SECONDS}s", node=m,
                           command=f"docker stack rm {stack}", output=left,
                           hint="run the demo again: it removes what an earlier run left")
        time.sleep(1)
    ctx.run.show_command("every node", f"docker volume rm $(docker volume ls -q --filter {label})")
    clear_volumes(ctx, f"^{stack}_")


def remove_export_dir(ctx: Context) -> None:
    ctx.manager_sh(f"rm -rf {ctx.config.export_path}/{EXPORT_SUBDIR}", teach=False)


def remove_leftovers(ctx: Context) -> list[str]:
    """What an interrupted (or --keep) demo left: stacks, volumes, files."""
    found = stacks_left(ctx)
    for stack in found:
        remove_stack(ctx, stack)
    clear_volumes(ctx, "^" + PREFIX + "(" + "|".join(NAMES) + ")_")
    remove_export_dir(ctx)
    return found


# -- one demo ----------------------------------------------------------------

def settings(ctx: Context, image: str, messages: int, size: int) -> Settings:
    return Settings(image=image, messages=messages, size=size, run_id=secrets.token_hex(4),
                    workers=tuple(w.name for w in ctx.config.workers), manager=ctx.config.manager.name,
                    manager_address=ctx.config.manager.address, export_path=ctx.config.export_path,
                    nfs=ctx.caps.nfs, deadline=deadline_for(messages))


def deploy(ctx: Context, stack: str, text: str, attempts: int = 3) -> None:
    m = ctx.config.manager.name
    ctx.run.show_command(m, f"docker stack deploy -c {stack}.yaml {stack}")
    for attempt in range(1, attempts + 1):
        try:
            ctx.manager_sh(f"docker stack deploy -c - {stack}", in_stream=io.BytesIO(text.encode()),
                           teach=False, timeout=300)
            return
        except LabError as exc:
            # A network of the same name still being removed.
            if "not found" not in exc.output or attempt == attempts:
                raise
            time.sleep(3)


def parse_reports(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        if REPORT in line:
            try:
                found.append(json.loads(line.split(REPORT, 1)[1]))
            except json.JSONDecodeError:
                continue
    return found


def poll(ctx: Context, stack: str, services: tuple[str, ...]) -> tuple[dict, dict]:
    """One SSH round trip: each service's reports and its tasks' states."""
    script = "; ".join(
        f"echo '== {s}'; docker service logs --raw --no-task-ids {stack}_{s} 2>&1; echo '== {s} tasks'; "
        f"docker service ps --no-trunc --format '{{{{.CurrentState}}}}\t{{{{.Error}}}}' {stack}_{s} 2>&1"
        for s in services)
    out = ctx.manager_sh(script, check=False, teach=False).stdout
    logs, tasks, current = {}, {}, None
    for line in out.splitlines():
        if line.startswith("== "):
            current = line[3:]
            continue
        if current is None:
            continue
        if current.endswith(" tasks"):
            tasks.setdefault(current[:-6], []).append(line)
        else:
            logs.setdefault(current, []).append(line)
    reports = {s: parse_reports("\n".join(logs.get(s, []))) for s in services}
    return reports, tasks


def wait_reports(ctx: Context, stack: str, services: tuple[str, ...], seconds: int) -> dict[str, dict]:
    m = ctx.config.manager.name
    ctx.run.show_command(m, f"docker stack ps {stack}")
    for s in services:
        ctx.run.show_command(m, f"docker service logs {stack}_{s}")
    deadline = time.monotonic() + seconds
    while True:
        reports, tasks = poll(ctx, stack, services)
        done = {s: r[-1] for s, r in reports.items() if r}
        errors = {s: r["error"] for s, r in done.items() if "error" in r}
        if errors:
            raise LabError(f"{stack}: " + "; ".join(f"{s} gave up: {e}" for s, e in errors.items()),
                           node=m, command=f"docker service logs {stack}_{next(iter(errors))}",
                           output=json.dumps(done, indent=1))
        if len(done) == len(services):
            return done
        failed = {s: t for s, t in tasks.items() if s not in done and
                  any(l.startswith(("Rejected", "Failed", "Complete", "Shutdown")) for l in t)}
        if failed or time.monotonic() > deadline:
            silent = [s for s in services if s not in done]
            raise LabError(f"{stack}: no report from {', '.join(silent)}"
                           + (" (its task stopped)" if failed else f" within {seconds}s"),
                           node=m, command=f"docker service ps --no-trunc {stack}_{silent[0]}",
                           output="\n".join(f"{s}: {' | '.join(tasks.get(s, []))}" for s in silent),
                           hint="the task states above say why; `--keep` leaves the stack to look at")
        time.sleep(1)


def run_demo(ctx: Context, name: str, image: str, messages: int, size: int, keep: bool, lang: str) -> list[Row]:
    demo = DEMOS[name]
    stack = PREFIX + name
    run = ctx.run
    run.note(f"{name}: {say(f'demos.{name}.title', lang)}")
    run.note(say(f"demos.{name}.shows", lang))
    s = settings(ctx, image, messages, size)
    text = stacks.to_yaml(demo.render(s), name)
    (run.dir / f"{stack}.yaml").write_text(text)
    if run.explain:
        run.console.print(f"    [dim]{stack}.yaml:[/dim]")
        for line in text.splitlines():
            run.console.print(f"      [cyan]{escape(line)}[/cyan]")
    try:
        if demo.uses_export:
            ctx.manager_sh(f"mkdir -p {ctx.config.export_path}/{EXPORT_SUBDIR}")
        deploy(ctx, stack, text)
        reports = wait_reports(ctx, stack, demo.reporters, s.deadline + PULL_SECONDS)
        (run.dir / f"{stack}.reports.json").write_text(json.dumps(reports, indent=1) + "\n")
        run.log(json.dumps(reports))
    finally:
        # Ctrl-C lands here too: the stack goes; a second Ctrl-C leaves it to
        # the next run's remove_leftovers.
        if keep:
            run.note(say("words.kept", lang).format(stack=stack))
        else:
            remove_stack(ctx, stack)
            if demo.uses_export:
                remove_export_dir(ctx)
    return demo.rows(reports, s)


def undelivered(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.must_deliver and not r.complete]


def show_rows(run: Run, rows: list[Row], lang: str) -> None:
    for r in rows:
        timing = (f"median {r.median_ms:.3f} ms, p99 {r.p99_ms:.3f} ms, {r.msgs_per_s:.0f} msgs/s"
                  if r.median_ms is not None else "")
        run.note(f"{r.mechanism}: {r.nodes}: {say('words.delivered', lang)} "
                 f"{r.delivered}/{r.messages}" + (f" ({r.delivered_text})" if r.delivered_text else "")
                 + (f"; {timing}" if timing else ""))
        if r.note:
            run.note("  " + note_text(r, lang))
        if r.demo == "udp":
            run.note("  " + say("demos.udp.loss_allowed", lang))
        run.note(f"  {verdict_text(r, lang)}: {say(f'claims.{r.claim}', lang)}")


def check_delivery(name: str, rows: list[Row]) -> None:
    short = undelivered(rows)
    if short:
        raise LabError(f"{name}: not every message arrived: " + "; ".join(
            f"{r.mechanism} {r.delivered}/{r.messages} by the consumer's own report" for r in short),
            hint="the reports are in the run folder; run the demo again with --keep to look at the stack")


def notes_for_docs(rows: list[Row], lang: str = "en") -> list[str]:
    notes = []
    for r in rows:
        if r.note:
            notes.append(f"{r.mechanism}: {note_text(r, lang)}")
    notes.append("udp: " + say("demos.udp.loss_allowed", lang))
    return notes


# -- the task ----------------------------------------------------------------

def main(path: str, name: str | None, messages: int | str | None, size: int | str | None, keep: bool,
         list_only: bool, explain: bool, lang: str) -> None:
    from ..commands import cluster_context, console, lab_run, load_config, reachable_cluster
    if list_only:
        for line in listing(lang if lang in LANGUAGES else "en"):
            console.print(line)
        return
    try:
        messages = whole_number(messages, "messages (N)", DEFAULT_MESSAGES)
        size = whole_number(size, "size (S)", DEFAULT_SIZE)
        names = validate(name, messages, size, lang)
    except BadInput as exc:
        console.print(f"[red bold]lab.demo:[/red bold] {escape(str(exc))}")
        raise SystemExit(2) from None
    config = load_config(path)
    with lab_run(config, f"demo.{name}", explain) as run:
        cluster = reachable_cluster(config)
        try:
            ctx = cluster_context(config, cluster, run)
            require_swarm(ctx)
            with run.step("demo: remove what earlier demos left") as step:
                left = remove_leftovers(ctx)
                if left:
                    step.changed(f"removed {', '.join(left)}")
            image = demo_image(ctx)
            all_rows, walls, failures = [], {}, []
            for n in names:
                try:
                    with run.step(f"demo: {n}") as step:
                        rows = run_demo(ctx, n, image, messages, size, keep, lang)
                        all_rows += rows
                        judge(all_rows)
                        show_rows(run, rows, lang)
                        step.detail = "; ".join(f"{r.mechanism} {r.delivered}/{r.messages}" for r in rows)
                        check_delivery(n, rows)
                except LabError as exc:
                    if len(names) == 1:
                        raise
                    run.fail(exc)
                    failures.append(n)
                finally:
                    walls[n] = run.steps[-1].seconds
            judge(all_rows)
            (run.dir / "demo-results.json").write_text(json.dumps(
                {"messages": messages, "size": size, "walls": walls, "rows": [r.to_dict() for r in all_rows]},
                indent=1) + "\n")
            if len(names) > 1:
                # Plain text, the same table as in docs/demos.md: it reads in a
                # terminal of any width and pastes into notes as it is.
                console.print(escape(markdown(all_rows, lang)), soft_wrap=True)
                if failures:
                    raise LabError(f"{len(failures)} of {len(names)} demos failed: {', '.join(failures)}",
                                   hint="each failure is printed above; docs/demos.md was left as it was")
                when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                write_section(DOCS, section(all_rows, walls, when, machine(), messages, size,
                                            notes_for_docs(all_rows)))
                run.note(f"table written to {DOCS.relative_to(DOCS.parent.parent)}")
        finally:
            cluster.close()
