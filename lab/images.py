"""Images the lab builds on the host, from nothing pulled.

No registry is reachable, so the Debian base is made with debootstrap and
imported; the node image (a container that behaves like a VM) builds on it.
Both are labelled with a hash of their inputs: a build whose inputs did not
change is skipped and reported as cached.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

from .runlog import LabError, Run, Step

BASE_IMAGE = "lab/debian:bookworm"
# The app images' (and the registry's) base: the same Debian without docs, man
# pages and translations, and with dpkg/apt told to leave those out of every
# later layer too. The node image keeps the full base (a trainee reads man
# pages on a node). Inside a node's engine it is tagged BASE_IMAGE, the name
# the Dockerfiles (and a trainee's `docker build`) use.
SLIM_IMAGE = "lab/debian:bookworm-slim"
# Bump when SLIM_EXCLUDED or SLIM_FILES change.
SLIM_RECIPE = "slim;v1"
SLIM_EXCLUDED = ("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/",
                 "usr/share/groff/", "usr/share/lintian/")
SLIM_KEPT = ("usr/share/locale/locale.alias",)
SLIM_FILES = {
    # As Debian's own slim images: later packages leave these out as well
    # (copyright notices stay).
    "etc/dpkg/dpkg.cfg.d/lab-slim": "".join(
        f"path-exclude /{d}*\n" for d in SLIM_EXCLUDED)
    + "path-include /usr/share/doc/*/copyright\n" + "".join(f"path-include /{k}\n" for k in SLIM_KEPT),
    "etc/apt/apt.conf.d/lab-slim": (
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        'Acquire::Languages "none";\n'
        # Downloaded .debs go as soon as dpkg is done with them, in the layer that got them.
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\n'),
}
SUITE = "bookworm"
# Inputs that change the base; bump when debootstrap's arguments change.
BASE_RECIPE = "minbase;bookworm;v1"
INPUTS_LABEL = "lab.inputs"
VAGRANT_KEY_GLOB = "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub"


def node_image_name(lab_name: str) -> str:
    return f"{lab_name}/node:bookworm"


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_digest(root: Path) -> list[bytes]:
    return [p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()]


def image_inputs(client: docker.DockerClient, name: str) -> str | None:
    try:
        return (client.images.get(name).labels or {}).get(INPUTS_LABEL)
    except docker.errors.ImageNotFound:
        return None


def build_base(client: docker.DockerClient, mirror: str, run: Run, step: Step) -> str:
    """debootstrap a minimal Debian 12 and import it as lab/debian:bookworm."""
    wanted = digest(BASE_RECIPE, mirror)
    if image_inputs(client, BASE_IMAGE) == wanted:
        step.detail = "cached"
        return BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="lab-base-") as tmp:
        root = Path(tmp) / "rootfs"
        command = f"debootstrap --variant=minbase {SUITE} {root} {mirror}"
        _host(run, command.split(), "debootstrap of the Debian base")
        # Keep images small: no package lists or downloaded .debs in the base.
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for p in (root / sub).glob("*"):
                if p.is_file():
                    p.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        _host(run, ["docker", "import", "--change", f"LABEL {INPUTS_LABEL}={wanted}",
                    "--change", 'CMD ["/bin/bash"]', "-", BASE_IMAGE],
              "docker import of the Debian base", stdin=tar.stdout)
        tar.wait()
    step.changed("built")
    return BASE_IMAGE


def slim_label(client: docker.DockerClient) -> str:
    """The slim base's inputs: the full base's own label and the recipe."""
    base = image_inputs(client, BASE_IMAGE)
    if base is None:
        raise LabError(f"the base image {BASE_IMAGE} is not on this host",
                       hint="run `invoke lab.nodes.up` (it builds it) and try again")
    return digest(SLIM_RECIPE, base)


def build_slim(client: docker.DockerClient) -> str:
    """lab/debian:bookworm-slim from the full base's files, filtered on their
    way from `docker export` to `docker import` (seconds; no second debootstrap).
    A new tag of its own: the full base, shared by every lab, is left as it is."""
    wanted = slim_label(client)
    if image_inputs(client, SLIM_IMAGE) == wanted:
        return SLIM_IMAGE
    container = client.containers.create(BASE_IMAGE, "true")
    try:
        exported = subprocess.Popen(["docker", "export", container.id], stdout=subprocess.PIPE)
        imported = subprocess.Popen(["docker", "import", "--change", f"LABEL {INPUTS_LABEL}={wanted}",
                                     "--change", 'CMD ["/bin/bash"]', "-", SLIM_IMAGE],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with tarfile.open(fileobj=exported.stdout, mode="r|") as src, \
                tarfile.open(fileobj=imported.stdin, mode="w|") as dst:
            for member in src:
                if not member.isdir() and _slimmed(member.name):
                    continue
                dst.addfile(member, src.extractfile(member) if member.isreg() else None)
            for name, text in SLIM_FILES.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                dst.addfile(info, io.BytesIO(data))
        imported.stdin.close()
        out = imported.stdout.read().decode(errors="replace")
        if exported.wait() != 0 or imported.wait() != 0:
            raise LabError("making the slim base failed", command=f"docker export | docker import - {SLIM_IMAGE}",
                           node="host", output=out)
    finally:
        container.remove(force=True)
    return SLIM_IMAGE


def _slimmed(name: str) -> bool:
    """Whether a file (folders all stay) is left out of the slim base."""
    name = name.removeprefix("./")
    if name in SLIM_KEPT or (name.startswith("usr/share/doc/") and name.endswith("/copyright")):
        return False
    return name.startswith(SLIM_EXCLUDED)


def vagrant_public_key() -> Path:
    found = sorted(Path("/").glob(VAGRANT_KEY_GLOB.lstrip("/")))
    if not found:
        raise LabError("Vagrant's insecure public key was not found (is vagrant installed?)",
                       hint="apt-get install -y vagrant")
    return found[-1]


def build_node_image(client: docker.DockerClient, lab_name: str, source: Path, run: Run, step: Step) -> str:
    """The node image: systemd, sshd, sudo, python3 and the vagrant user."""
    name = node_image_name(lab_name)
    base_id = client.images.get(BASE_IMAGE).id
    wanted = digest(base_id, *tree_digest(source))
    if image_inputs(client, name) == wanted:
        step.detail = "cached"
        return name
    with tempfile.TemporaryDirectory(prefix="lab-node-") as tmp:
        context = Path(tmp)
        shutil.copytree(source, context, dirs_exist_ok=True)
        _host(run, ["docker", "build", "--label", f"{INPUTS_LABEL}={wanted}",
                    "--build-arg", f"BASE={BASE_IMAGE}", "-t", name, str(context)],
              "docker build of the node image", env_extra={"DOCKER_BUILDKIT": "0"})
    step.changed("built")
    return name


def _host(run: Run, argv: list[str], what: str, stdin=None, env_extra: dict | None = None) -> None:
    command = " ".join(argv)
    run.show_command("host", command)
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env)
    run.log(proc.stdout)
    if proc.returncode != 0:
        raise LabError(f"{what} failed (exit {proc.returncode})", command=command, node="host",
                       output=proc.stdout)
