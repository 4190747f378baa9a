"""The lab's commands: `invoke --list` shows them all.

Thin on purpose: each task parses its flags and calls lab.commands.
"""
import sys

from invoke import Collection, Task, task
from invoke.parser import Argument

# The lab's own modules are compiled once and kept in lab/__pycache__ (which
# git ignores), even where PYTHONDONTWRITEBYTECODE is set: otherwise every
# command compiles about 60 of them again, 0.12 s of a 2.2 s no-op lab.up.
# The variable still holds for everything imported after.
_writes, sys.dont_write_bytecode = sys.dont_write_bytecode, False
from lab import commands  # noqa: E402
sys.dont_write_bytecode = _writes

CONFIG_HELP = "path of the lab file (default: $LAB_CONFIG, else lab.yaml beside this file)"
EXPLAIN_HELP = "teaching mode: print every command with the node it runs on (or LAB_EXPLAIN=1)"


def _config(path):
    import os
    from pathlib import Path
    return path or os.environ.get("LAB_CONFIG") or str(Path(__file__).resolve().parent / "lab.yaml")


@task(help={"config": CONFIG_HELP, "explain": EXPLAIN_HELP})
def nodes_up(c, config=None, explain=False):
    """Bring the four nodes up (builds the node image when needed)."""
    commands.nodes_up(_config(config), explain)


@task(help={"config": CONFIG_HELP})
def nodes_status(c, config=None):
    """Table of the nodes: role, address, state, SSH port."""
    commands.nodes_status(_config(config))


@task(help={"config": CONFIG_HELP})
def nodes_destroy(c, config=None):
    """Destroy the nodes and their volumes; nothing of them is left."""
    commands.nodes_destroy(_config(config))


@task(help={"node": "node name from lab.yaml", "command": "run this command instead of a shell",
            "config": CONFIG_HELP})
def ssh(c, node, command=None, config=None):
    """Open a shell on a node (or run one command there)."""
    commands.ssh(_config(config), node, command)


@task(help={"config": CONFIG_HELP, "explain": EXPLAIN_HELP})
def cluster(c, config=None, explain=False):
    """Docker, daemon.json, swarm, registry and NFS on the running nodes."""
    commands.cluster(_config(config), explain)


@task(help={"config": CONFIG_HELP, "explain": EXPLAIN_HELP,
            "yes": "on a lab in guided practice, do the trainee's remaining steps without asking"})
def up(c, config=None, explain=False, yes=False):
    """From nothing (or any partial state) to the whole lab, step by step."""
    commands.up(_config(config), explain, yes)


@task(help={"config": CONFIG_HELP, "all": "also remove the cached images, apt cache, data and secrets"})
def destroy(c, config=None, all=False):
    """Remove everything the lab made (caches stay unless --all)."""
    commands.destroy(_config(config), all)


@task(help={"config": CONFIG_HELP, "junit": "also write the results as JUnit XML to this file",
            "drill": "move the db task to another worker and log in again (default on)",
            "browser": "register and log in with a real chromium (default on)"})
def check(c, config=None, junit=None, drill=True, browser=True):
    """End-to-end checks from the host through 127.0.0.1, as a newcomer would."""
    commands.check(_config(config), junit, drill, browser)


@task(help={"config": CONFIG_HELP, "json": "print JSON (keys documented in the README)"})
def status(c, config=None, json=False):
    """Provider, stand-ins, nodes, services, URLs and the last run's result."""
    commands.status(_config(config), json)


@task(help={"config": CONFIG_HELP})
def down(c, config=None):
    """Stop the nodes; keep their state and every cache (lab.up starts them again)."""
    commands.down(_config(config))


@task(help={"config": CONFIG_HELP})
def report(c, config=None):
    """The last run as a table: each step, its outcome and seconds."""
    commands.report(_config(config))


@task(help={"cold": "cold runs (each removes every cache first)", "runs": "runs of each other cycle",
            "cached": "cold runs with the host image cache kept (default: --runs)"})
def bench(c, cold=1, runs=3, cached=None):
    """Measure cold, warm and no-op lab.up, lab.check and memory; write docs/benchmarks.md."""
    from lab.bench import bench as run_bench
    print(run_bench(int(cold), int(runs), cached_runs=None if cached is None else int(cached)))


@task(help={"config": CONFIG_HELP, "rates": "requests per second to step through, comma-separated",
            "step_seconds": "seconds at each step", "seconds": "seconds at the highest rate held"})
def load(c, config=None, rates="10,20,40,60,80,120,160", step_seconds=15, seconds=60):
    """Mixed traffic through 127.0.0.1: the highest rate with no 5xx, then a timed run there."""
    from lab.load import main
    main(_config(config), rates, float(step_seconds), float(seconds))


@task(help={"config": CONFIG_HELP, "cycles": "how many destroy -> up -> check cycles"})
def soak(c, cycles="10", config=None):
    """N times destroy -> up -> check; one line per cycle and a summary, also written to a file."""
    from lab.soak import main
    main(_config(config), cycles)


@task(help={"config": CONFIG_HELP, "out": "folder to write (default .lab/offline/lab-bundle; the .tar goes beside it)",
            "providers": "docker (default) or docker,libvirt (adds the libvirt box)"})
def bundle(c, config=None, out=None, providers="docker"):
    """The offline classroom: one folder and .tar with every package, wheel and image a laptop needs."""
    from lab import bundle as bundlemod
    try:
        bundlemod.make(_config(config), out, providers)
    except bundlemod.BundleError as exc:
        print(f"error: {exc}" + (f"\n  next: {exc.hint}" if exc.hint else ""))
        raise SystemExit(1) from None


class _NameOrList(Argument):
    """Invoke makes a positional argument required; `lab.drill --list` has
    no drill name: with --list given, the name counts as given (empty)."""
    siblings: list = []

    @property
    def value(self):
        value = Argument.value.fget(self)
        if value is None and any(a.name == "list" and a.value for a in self.siblings):
            return ""
        return value

    @value.setter
    def value(self, arg):
        self.set_value(arg, cast=True)


class _DrillTask(Task):
    def get_arguments(self, ignore_unknown_help=None):
        args = super().get_arguments(ignore_unknown_help)
        for arg in args:
            if arg.name == "name":
                arg.__class__ = _NameOrList
                arg.siblings = args
        return args


@task(klass=_DrillTask, positional=["name"], help={"name": "the drill to run (see --list)", "list": "list the drills and what each shows",
                                 "lang": "language of the explanations: en or id", "config": CONFIG_HELP})
def drill(c, name, list=False, lang="en", config=None):
    """Show one swarm concept on the running lab, check it happened, put the lab back."""
    from lab.drills.command import drill as run_drill
    run_drill(_config(config), name, list, lang)


@task(help={"config": CONFIG_HELP, "port": "serve on this 127.0.0.1 port instead of host_ports.dashboard"})
def dashboard(c, config=None, port=None):
    """A live view of the swarm in the browser: a column per node, a card per task."""
    from lab.dashboard import serve
    serve(_config(config), int(port) if port else None)


@task(help={"config": CONFIG_HELP, "explain": EXPLAIN_HELP})
def box_build(c, config=None, explain=False):
    """Build the Debian 12 libvirt box here and add it to Vagrant (cached)."""
    commands.box_build(_config(config), explain)


@task(positional=["name"], help={"name": "tcp, udp, unix, filesystem, database, http, mqtt, or all (runs them in turn)",
            "messages": "N: messages to send (1-10000, default 200)",
            "size": "S: bytes per message (8-60000, default 64)",
            "keep": "leave the demo's stack running to explore (the next lab.demo removes it)",
            "list": "list the demos and stop",
            "lang": "language of the texts: en or id (default: $LAB_LANG, else en)",
            "config": CONFIG_HELP, "explain": EXPLAIN_HELP})
def demo(c, name=None, messages=None, size=None, keep=False, list=False, lang=None, config=None, explain=False):
    """Show one way containers talk, measured across the lab (or all of them, as a table)."""
    import os
    from lab.demos import runner
    # N and S arrive as text: lab.demo checks them and names the limits.
    runner.main(_config(config), name, messages, size, keep, list,
                explain, lang or os.environ.get("LAB_LANG", "en"))


@task(name="start", help={"config": CONFIG_HELP, "lang": "en (default) or id (Bahasa Indonesia)",
                          "from": "start at this step (key or number); the lab does the ones before it",
                          "reset": "start over on nodes re-created bare", "explain": EXPLAIN_HELP})
def practice_start(c, config=None, lang=None, from_=None, reset=False, explain=False):
    """Guided practice: bring the nodes up bare (or up to --from) and show the first step."""
    from lab.practice import commands as practice
    practice.start(_config(config), lang, from_, reset, explain)


@task(name="check", help={"config": CONFIG_HELP, "all": "check every step and print a table"})
def practice_check(c, config=None, all=False):
    """Check the current step from the nodes' real state: done (exit 0) or what is missing (exit 1)."""
    from lab.practice import commands as practice
    practice.check(_config(config), all)


@task(name="hint", help={"config": CONFIG_HELP, "json": "print JSON"})
def practice_hint(c, config=None, json=False):
    """The next hint of the current step: a nudge, the command's shape, then the solution."""
    from lab.practice import commands as practice
    practice.hint(_config(config), json)


@task(name="solve", help={"config": CONFIG_HELP, "explain": EXPLAIN_HELP})
def practice_solve(c, config=None, explain=False):
    """The lab does the current step for a trainee who is stuck (marked solved by the lab)."""
    from lab.practice import commands as practice
    practice.solve(_config(config), explain)


@task(name="status", help={"config": CONFIG_HELP, "json": "print JSON"})
def practice_status(c, config=None, json=False):
    """One row per step: done, solved by the lab, current or not started; checks, time, hints."""
    from lab.practice import commands as practice
    practice.status(_config(config), json)


practice_ns = Collection("practice")
for t in (practice_start, practice_check, practice_hint, practice_solve, practice_status):
    practice_ns.add_task(t)

box = Collection("box")
box.add_task(box_build, "build")

nodes = Collection("nodes")
nodes.add_task(nodes_up, "up")
nodes.add_task(nodes_status, "status")
nodes.add_task(nodes_destroy, "destroy")

lab = Collection("lab")
lab.add_collection(nodes)
lab.add_collection(box)
lab.add_collection(practice_ns)
lab.add_task(up)
lab.add_task(destroy)
lab.add_task(check)
lab.add_task(status)
lab.add_task(down)
lab.add_task(report)
lab.add_task(bench)
lab.add_task(ssh)
lab.add_task(cluster)
lab.add_task(demo)
lab.add_task(drill)
lab.add_task(dashboard)
lab.add_task(load)
lab.add_task(soak)
lab.add_task(bundle)

ns = Collection()
ns.add_collection(lab)
