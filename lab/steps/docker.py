"""Install Docker on every node (Debian's docker.io), as the tutorial's
nodes have it before `docker swarm init`."""
from __future__ import annotations

from .. import debcache
from ..remote import on_each
from . import Context, Problem

NAME = "docker: install docker.io on every node"
def teach(ctx) -> list[tuple[str, str]]:
    return [("every node", c) for c in (
        "sudo apt-get update",
        "sudo apt-get install -y docker.io",
        "sudo systemctl enable --now docker",
        "sudo usermod -aG docker vagrant",
    )]
# The host directory every node container mounts: each .deb and the package
# lists are downloaded once for all nodes, and kept for the next lab.
SHARED_CACHE = "/var/cache/lab-apt"

# The user who logs in (vagrant on Vagrant's nodes, the lab.yaml user on
# servers you already have): sudo names it in SUDO_USER.
LOGIN_USER = '"${SUDO_USER:-vagrant}"'
CHECK = ("command -v dockerd >/dev/null && systemctl is-active --quiet docker "
         f"&& id -nG {LOGIN_USER} | grep -qw docker && echo ready")

# How every node's part starts: the package lists a node already fetched
# (no second download), and apt's line for docker.io.
LISTS_IN = f"""
set -e
export DEBIAN_FRONTEND=noninteractive
if [ -d {SHARED_CACHE}/lists ] && [ ! -e /var/lib/apt/lists/lock ]; then
  cp -rn {SHARED_CACHE}/lists/. /var/lib/apt/lists/ 2>/dev/null || true
fi
# No fsync after every file dpkg writes (the node is new: a crash means a new
# node, not a damaged one); the trainee's line stays the tutorial's.
install_docker() {{ apt-get "$@" install -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io docker.io; }}
""".strip()

# What this node downloaded (and the lists it read), for every other node and
# the next lab; each file appears whole or not at all.
STORE = f"""
if [ -d {SHARED_CACHE} ]; then
  for deb in /var/cache/apt/archives/*.deb; do
    name=${{deb##*/}}; tmp="{SHARED_CACHE}/.$name.$(hostname).tmp"
    [ -e "{SHARED_CACHE}/$name" ] || {{ cp "$deb" "$tmp" && mv -f "$tmp" "{SHARED_CACHE}/$name"; }}
  done
  if [ ! -d {SHARED_CACHE}/lists ]; then
    tmp={SHARED_CACHE}/.lists.$(hostname) && mkdir -p $tmp && cp -r /var/lib/apt/lists/. $tmp/ && rm -rf $tmp/partial $tmp/lock && mv -T $tmp {SHARED_CACHE}/lists || rm -rf $tmp
  fi
fi
""".strip()

INSTALL = f"""
{LISTS_IN}
# The same packages with their files stored uncompressed (lab/debcache.py),
# when their index was made from the very lists this node's sources give
# (all of them, byte for byte): apt reads that copy alone, and no xz is
# undone four times over on 2 cores. Any other sources (a bundle's, a
# mirror's newer lists) go Debian's way below.
from_copy() {{
  copy={SHARED_CACHE}/{debcache.FOLDER}
  [ -f $copy/Packages ] && [ -s $copy/{debcache.MADE_FROM} ] || return 1
  lists=$(apt-get indextargets --format '$(FILENAME)' 'Identifier: Packages' | sed 's,.*/,,' | sort)
  [ -n "$lists" ] && [ "$lists" = "$(sort $copy/{debcache.MADE_FROM})" ] || return 1
  for list in $lists; do
    cmp -s "{SHARED_CACHE}/lists/$list" "/var/lib/apt/lists/$list" || return 1
  done
  mkdir -p /run/lab-apt/lists/partial
  echo "deb [trusted=yes] file:$copy ./" > /run/lab-apt/sources.list
  set -- -o Dir::Etc::SourceList=/run/lab-apt/sources.list -o Dir::Etc::SourceParts=/nonexistent \\
    -o Dir::State::Lists=/run/lab-apt/lists -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  apt-get "$@" update -qq && install_docker "$@"
}}
if ! from_copy; then
  if [ -d {SHARED_CACHE} ]; then cp -n {SHARED_CACHE}/*.deb /var/cache/apt/archives/ 2>/dev/null || true; fi
  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || ! install_docker; then
    apt-get update
    install_docker
  fi
fi
{STORE}
systemctl enable --now docker
usermod -aG docker {LOGIN_USER}
""".strip()

# One node downloads docker.io and what it needs (and the lists) into the
# shared cache before the others install, so that the host can make the
# uncompressed copy first (exit 3: this node sees no shared cache).
FETCH = f"""
[ -d {SHARED_CACHE} ] || exit 3
{LISTS_IN}
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || ! install_docker --download-only; then
  apt-get update
  install_docker --download-only
fi
{STORE}
""".strip()


def missing_on(ctx: Context) -> list[str]:
    def ready(node):
        return ctx.sh(node.name, CHECK, check=False, teach=False).out == "ready"
    results = on_each(ctx.config.nodes, ready)
    return [n.name for n, ok in zip(ctx.config.nodes, results) if not ok]


def check(ctx: Context) -> list[str]:
    return [Problem("docker_not_ready", node=name) for name in missing_on(ctx)]


def fetch_once(ctx: Context, nodes: list[str]) -> None:
    """With the host's apt cache shared by the nodes and no current copy of
    it: the first node downloads, the host makes the uncompressed copy (both
    CPUs, a few seconds), then every node installs from it. Four nodes each
    downloading and undoing the same xz cost more (cold docker step 17.4 s)."""
    cache = ctx.state_dir / "cache" / "apt"
    if len(nodes) < 2 or not cache.is_dir() or debcache.current(cache):
        return
    fetched = ctx.sh(nodes[0], FETCH, check=False, teach=False, timeout=900,
                     shown="apt-get install --download-only docker.io")
    if fetched.ok:
        debcache.make(cache)


def apply(ctx: Context, step, missing) -> None:
    for node, command in teach(ctx):
        ctx.run.show_command(node, command)
    nodes = missing_on(ctx)
    fetch_once(ctx, nodes)
    on_each(nodes, lambda name: ctx.sh(name, INSTALL, teach=False, timeout=900,
                                              shown="apt-get install -y --no-install-recommends docker.io"))
    step.detail = f"installed on {', '.join(nodes)}"
    # The packages just downloaded (or already there), uncompressed for the
    # next lab: made on the host while the lab goes on, at the lowest priority.
    debcache.refresh_later(ctx.state_dir / "cache" / "apt")
