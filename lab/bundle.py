"""The offline classroom bundle: one folder (and one .tar of it) that takes a
fresh Debian 12 laptop to a green lab.check with no network at all.

Made on a machine with network (`invoke lab.bundle`):
  apt/       every .deb the host and the nodes install, dependencies resolved
             from a minimal Debian 12, with a Packages index and a Release file
             made by apt-ftparchive; used as a `[trusted=yes]` flat repository
  wheels/    a wheelhouse for requirements.txt (pip install --no-index)
  images/    host.tar.gz: the Debian base and the node image;
             manager.tar.gz: registry:2 and the app's images, as the lab built them
  box/       the libvirt box, when asked
  manifest.json  every file with its size and sha256, the lab's commit, the date

Used by `./labctl up --bundle PATH` before the venv exists: the part that
verifies and unpacks a bundle runs on the system's python3, so this module
imports only the standard library at its top (the builder imports the lab's
modules, and so docker, inside its functions).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"
ROOT = Path(__file__).resolve().parent.parent
# Where ./labctl up --bundle puts a verified bundle: inside the apt cache that
# every node container already mounts (/var/cache/lab-apt), so the nodes read
# the bundle's repository as a file: source, with nothing served.
INSTALLED = Path(".lab") / "cache" / "apt" / "bundle"
NODE_PATH = "/var/cache/lab-apt/bundle"
# What the nodes install with apt (tutorial steps 1, 2 and 6); the lab's own
# steps add --no-install-recommends.
NODE_PACKAGES = ("docker.io", "git", "nfs-kernel-server", "nfs-common")
# labctl makes the venv with python3 -m venv: a fresh Debian lacks the module.
HOST_EXTRA = ("python3-venv",)
# Free space kept beyond what a bundle needs, so the disk is not left full.
MARGIN = 256 << 20
CHUNK = 1 << 20


class BundleError(Exception):
    """A bundle that cannot be used, with what to do about it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


# -- facts about this checkout ---------------------------------------------------

def lab_commit(root: Path = ROOT) -> str:
    """The checkout's commit; read from .git by hand where git is not installed
    (a fresh laptop gets git only from the bundle)."""
    if shutil.which("git"):
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.strip()
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <path>"
        git = Path(git.read_text().split(":", 1)[1].strip())
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        common = git / "commondir"
        dirs = [git] + ([(git / common.read_text().strip()).resolve()] if common.exists() else [])
        for d in dirs:
            if (d / ref).exists():
                return (d / ref).read_text().strip()
            packed = d / "packed-refs"
            if packed.exists():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
    except OSError:
        pass
    return "unknown"


def host_packages(root: Path = ROOT) -> list[str]:
    """labctl's APT_PACKAGES (read from labctl, so the two never disagree)."""
    m = re.search(r"^APT_PACKAGES=\(([^)]*)\)", (root / "labctl").read_text(), re.M)
    if not m:
        raise BundleError("labctl has no APT_PACKAGES=(...) line to read the host packages from")
    return m.group(1).split() + list(HOST_EXTRA)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


# -- the manifest ------------------------------------------------------------------

def file_table(folder: Path, old: dict | None = None) -> dict:
    """{relative path: {size, sha256}} of every file but the manifest. A file
    whose size and mtime match `old` keeps its hash (no re-read)."""
    table = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name == MANIFEST and p.parent == folder:
            continue
        rel = p.relative_to(folder).as_posix()
        st = p.stat()
        was = (old or {}).get(rel)
        if was and was["size"] == st.st_size and was.get("mtime") == int(st.st_mtime):
            table[rel] = was
        else:
            table[rel] = {"size": st.st_size, "sha256": sha256_file(p), "mtime": int(st.st_mtime)}
    return table


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder} is not a lab bundle: it has no {MANIFEST}",
                          hint="give the folder or .tar that `invoke lab.bundle` wrote")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc})", hint="copy the bundle again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{path} is not a lab bundle manifest of format {FORMAT}",
                          hint="make the bundle again with this lab's `invoke lab.bundle`")
    return manifest


def verify(folder: Path) -> dict:
    """The manifest, once every file it names is there with its size and
    sha256. Raises BundleError naming each missing or corrupted file."""
    manifest = read_manifest(folder)
    if not manifest["files"]:
        raise BundleError(f"the manifest of {folder} lists no files")
    problems = []
    for rel, want in sorted(manifest["files"].items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif path.stat().st_size != want["size"]:
            problems.append(f"corrupted: {rel} (size {path.stat().st_size}, the manifest says {want['size']})")
        elif sha256_file(path) != want["sha256"]:
            problems.append(f"corrupted: {rel} (sha256 differs from the manifest)")
    total = sum(f["size"] for f in manifest["files"].values())
    if not problems and manifest.get("total_size") != total:
        problems.append(f"manifest: total_size {manifest.get('total_size')} is not the sum of its files ({total})")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise BundleError("the bundle does not match its manifest:\n  " + "\n  ".join(shown),
                          hint="copy the bundle again (or make it again with `invoke lab.bundle`); "
                               "nothing was installed")
    return manifest


def check_commit(manifest: dict, here: str, force: bool) -> str | None:
    """None when the bundle was made from this checkout's commit; with --force,
    a warning of what may differ; else BundleError naming both commits."""
    made = manifest.get("commit", "unknown")
    if made == here:
        return None
    if not force:
        raise BundleError(f"the bundle was made from commit {made[:12]}, this lab is at commit {here[:12]}",
                          hint=f"check out {made[:12]}, make a new bundle from {here[:12]}, "
                               "or pass --force to use it anyway")
    return (f"using a bundle of commit {made[:12]} on a lab at {here[:12]} (--force): packages, wheels or "
            "images that this commit needs and the bundle lacks would be fetched from the network, "
            "which fails offline; an image whose inputs changed is rebuilt")


# -- using a bundle: from the path given to the verified copy in .lab ---------------

@dataclass
class Prepared:
    folder: Path
    manifest: dict
    warning: str | None
    reused: bool

    def banner(self) -> str:
        return f"offline: bundle {self.manifest.get('date', '?')}, {self.manifest.get('commit', '?')[:12]}"


def free_bytes(path: Path) -> int:
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def need_space(where: Path, need: int, what: str) -> None:
    free = free_bytes(where)
    if free < need + MARGIN:
        raise BundleError(f"not enough free disk space to {what}: {human(need + MARGIN)} needed "
                          f"(with {human(MARGIN)} to spare), {human(free)} free on {where}",
                          hint="free some space there and run the command again; nothing was installed")


def tar_members(path: Path) -> list[tarfile.TarInfo]:
    """The members of the bundle's .tar, read to its end: a truncated or
    damaged file is found before anything is unpacked."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"{path} is not a complete tar file ({exc})",
                          hint="copy it again (a truncated copy is the usual cause); nothing was installed") from None
    if not members:
        raise BundleError(f"{path} is an empty tar file", hint="copy it again; nothing was installed")
    end = 0
    for m in members:
        if m.isfile():
            end = max(end, m.offset_data + m.size)
        bad = m.name.startswith("/") or ".." in Path(m.name).parts
        if bad or not (m.isfile() or m.isdir()):
            raise BundleError(f"{path} holds an entry a bundle never has: {m.name}",
                              hint="use a bundle made by `invoke lab.bundle`; nothing was installed")
    if end > path.stat().st_size:
        raise BundleError(f"{path} is truncated", hint="copy it again; nothing was installed")
    tops = {Path(m.name).parts[0] for m in members}
    if len(tops) != 1:
        raise BundleError(f"{path} should hold one folder, it holds {len(tops)} top entries")
    return members


def prepare(source: Path, root: Path = ROOT, force: bool = False) -> Prepared:
    """Verify the bundle at `source` (folder or .tar), then put it where the lab
    reads it (root/.lab/cache/apt/bundle). Nothing changes unless it verifies."""
    source = source.expanduser()
    if not source.exists():
        raise BundleError(f"no bundle at {source}: the path does not exist",
                          hint="give the bundle's folder or its .tar (made by `invoke lab.bundle`)")
    target = root / INSTALLED
    here = lab_commit(root)
    if source.is_dir():
        manifest = verify(source)
        warning = check_commit(manifest, here, force)
        if source.resolve() == target.resolve():
            return Prepared(target, manifest, warning, True)
        if target.is_dir() and (target / MANIFEST).is_file() \
                and (target / MANIFEST).read_bytes() == (source / MANIFEST).read_bytes():
            # The same bundle is already in place: check it as carefully.
            return Prepared(target, verify(target), warning, True)
        linkable = _same_device(source, target)
        need_space(target.parent, 0 if linkable else manifest["total_size"], "copy the bundle")
        staging = _staging(target)
        try:
            for rel in list(manifest["files"]) + [MANIFEST]:
                dst = staging / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if linkable:
                    os.link(source / rel, dst)
                else:
                    shutil.copyfile(source / rel, dst)
            verify(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    elif tarfile.is_tarfile(source) or source.suffix == ".tar":
        members = tar_members(source)
        size = sum(m.size for m in members if m.isfile())
        need_space(target.parent, size, "unpack the bundle")
        staging = _staging(target)
        try:
            with tarfile.open(source, "r:") as tar:
                for m in members:
                    m.mode = 0o755 if m.isdir() else 0o644
                    tar.extract(m, staging, set_attrs=False)
            top = staging / Path(members[0].name).parts[0]
            manifest = verify(top)
            warning = check_commit(manifest, here, force)
            for p in top.iterdir():
                p.rename(staging / p.name)
            top.rmdir()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        raise BundleError(f"{source} is neither a folder nor a tar file",
                          hint="give the bundle's folder or its .tar")
    try:
        # Loading the images needs their unpacked size in Docker's storage.
        need_space(Path("/var/lib/docker"), int(manifest.get("images_size", 0)), "load the bundle's images")
    except BundleError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return Prepared(target, manifest, warning, False)


def _same_device(a: Path, b: Path) -> bool:
    b = b.parent
    while not b.exists():
        b = b.parent
    return a.stat().st_dev == b.stat().st_dev


def _staging(target: Path) -> Path:
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


# -- making a bundle (a machine with network) -------------------------------------

DEFAULT_OUT = Path(".lab") / "offline" / "lab-bundle"
PROVIDERS = ("docker", "libvirt")
# apt-get inside a container of the lab's Debian base: its dpkg status is a
# minimal Debian 12, so what it downloads is the whole closure a fresh laptop
# (or node) needs. The status is kept in the bundle: labctl checks against it
# that the repository alone could install every host package.
APT_SCRIPT = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
cp /var/lib/dpkg/status /out/minbase.status
get() { apt-get install -y -q --download-only -o Dir::Cache::archives=/out "$@"; }
get $HOST_PACKAGES
get --no-install-recommends $NODE_PACKAGES
rm -rf /out/partial /out/lock
# apt-ftparchive comes with apt-utils, installed after the downloads so that
# it changes nothing of the closure above.
apt-get install -y -q --no-install-recommends apt-utils >/dev/null
cd /out
apt-ftparchive packages . > Packages
gzip -9kf Packages
apt-ftparchive -o APT::FTPArchive::Release::Origin=lab-bundle -o APT::FTPArchive::Release::Label=lab-bundle \
  -o APT::FTPArchive::Release::Suite=bookworm release . > /tmp/Release
mv /tmp/Release Release
"""


def say(text: str) -> None:
    print(text, flush=True)


def _run(argv: list[str], what: str, **kw) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        raise BundleError(f"{what} failed (exit {out.returncode}): {' '.join(argv)[:200]}\n"
                          + (out.stdout + out.stderr)[-2000:])
    return out.stdout


def _save(argv: list[str], names: list[str], dest: Path, what: str) -> None:
    """docker save NAMES (run by argv), gzip -1, into dest (atomically)."""
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as f:
        save = subprocess.Popen(argv + ["docker", "save"] + names if argv else ["docker", "save"] + names,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-1"], stdin=save.stdout, stdout=f)
        save.stdout.close()
        err = save.stderr.read().decode(errors="replace")
        rc_save, rc_gz = save.wait(), gz.wait()
    if rc_save or rc_gz:
        tmp.unlink(missing_ok=True)
        raise BundleError(f"saving {what} failed: {err.strip()[-1000:]}")
    tmp.rename(dest)


def make(config_path: str, out: str | None = None, providers: str = "docker") -> Path:
    """`invoke lab.bundle`: write or refresh the bundle; returns its folder."""
    import docker
    import docker.errors
    from . import config as configmod, host, images

    started = time.monotonic()
    config = configmod.load(config_path)
    chosen = [p.strip() for p in providers.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PROVIDERS]
    if unknown or not chosen:
        raise BundleError(f"unknown provider(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(PROVIDERS)}")
    folder = Path(out) if out else ROOT / DEFAULT_OUT
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        old = read_manifest(folder) if (folder / MANIFEST).exists() else None
    except BundleError:
        old = None
    client = docker.from_env()

    def image_id(name: str) -> str:
        try:
            return client.images.get(name).id
        except docker.errors.ImageNotFound:
            raise BundleError(f"the image {name} is not on this host",
                              hint="bring the lab up once with `invoke lab.up` (it builds every image), "
                                   "then make the bundle") from None

    host_images = [images.BASE_IMAGE, images.node_image_name(config.name)]
    host_ids = {n: image_id(n) for n in host_images}
    manager = f"{config.name}-{config.manager.name}"
    manager_ids = _manager_images(manager, config.registry, images.BASE_IMAGE, images.INPUTS_LABEL)
    mirror = host.debian_mirror()
    host_pkgs = host_packages()
    node_pkgs = list(NODE_PACKAGES)
    if "libvirt" in chosen:
        from . import libvirt
        host_pkgs += [p for p in libvirt.PACKAGES if p not in host_pkgs]
    requirements = (ROOT / "requirements.txt").read_bytes()
    py = f"{sys.version_info.major}.{sys.version_info.minor}"

    def key(*parts) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def make_apt(dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        _run(["docker", "run", "--rm", "-v", f"{dest}:/out",
              "-e", f"HOST_PACKAGES={' '.join(host_pkgs)}", "-e", f"NODE_PACKAGES={' '.join(node_pkgs)}",
              images.BASE_IMAGE, "bash", "-c", APT_SCRIPT], "resolving and downloading the .debs")

    def make_wheels(dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
              "-r", str(ROOT / "requirements.txt"), "-w", str(dest)], "pip wheel -r requirements.txt")

    def make_host_images(dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _save([], host_images, dest, "the host's images")

    def make_manager_images(dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _save(["docker", "exec", manager], sorted(manager_ids), dest, "the manager's images")

    parts = [
        ("apt", "apt", key(host_pkgs, node_pkgs, host_ids[images.BASE_IMAGE], mirror), make_apt),
        ("wheels", "wheels", key(requirements.decode(), py), make_wheels),
        ("images/host", "images/host.tar.gz", key(host_ids), make_host_images),
        ("images/manager", "images/manager.tar.gz", key(manager_ids), make_manager_images),
    ]
    if "libvirt" in chosen:
        img = _box_file(config)
        parts.append(("box", "box/debian12.box", key(str(img), img.stat().st_size, int(img.stat().st_mtime)),
                      lambda dest: _pack_box(img, dest)))

    old_parts = (old or {}).get("parts", {})
    old_files = (old or {}).get("files", {})
    done = {}
    reused_all = True
    for name, rel, wanted, maker in parts:
        dest = folder / rel
        mine = {f: v for f, v in old_files.items() if f == rel or f.startswith(rel + "/")}
        if old_parts.get(name, {}).get("key") == wanted and mine and _still_there(folder, mine):
            done[name] = old_parts[name]
            say(f"  {name}: reused (unchanged since the last lab.bundle)")
            continue
        reused_all = False
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        t0 = time.monotonic()
        say(f"  {name}: making ...")
        maker(dest)
        seconds = round(time.monotonic() - t0, 1)
        done[name] = {"key": wanted, "seconds": seconds}
        say(f"  {name}: made in {seconds:.0f}s")
    # Files of parts no longer asked for (a box, say) are removed.
    wanted_paths = [rel for _, rel, _, _ in parts]
    for stale in ("box",):
        if not any(p.startswith(stale) for p in wanted_paths) and (folder / stale).exists():
            shutil.rmtree(folder / stale)
            reused_all = False
    files = file_table(folder, old_files)
    for name, rel, _, _ in parts:
        done[name]["size"] = sum(v["size"] for f, v in files.items() if f == rel or f.startswith(rel + "/"))
    commit = lab_commit()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    manifest = {
        "format": FORMAT,
        "commit": commit,
        "dirty": dirty,
        "date": old["date"] if old and reused_all and old.get("commit") == commit
        else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mirror": mirror,
        "lab": {"name": config.name, "app_name": config.app_name,
                "host_ports": {"web": config.host_ports.web, "api": config.host_ports.api}},
        "providers": chosen,
        "host_packages": host_pkgs,
        "node_packages": node_pkgs,
        "images": {"host": host_ids, "manager": manager_ids},
        "images_size": sum(client.images.get(i).attrs["Size"] for i in host_ids.values())
        + _manager_size(manager, list(manager_ids)),
        "parts": done,
        "files": files,
        "total_size": sum(v["size"] for v in files.values()),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    unchanged = old is not None and (folder / MANIFEST).read_text() == text
    if not unchanged:
        (folder / MANIFEST).write_text(text)
    tar = folder.with_name(folder.name + ".tar")
    stamp = folder.with_name(folder.name + ".tar.manifest-sha256")
    digest = hashlib.sha256(text.encode()).hexdigest()
    if unchanged and tar.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        say(f"  tar: reused {tar} (unchanged)")
    else:
        t0 = time.monotonic()
        stamp.unlink(missing_ok=True)
        tmp = tar.with_name(tar.name + ".tmp")
        _run(["tar", "-cf", str(tmp), "-C", str(folder.parent), folder.name], "writing the bundle's .tar")
        tmp.rename(tar)
        stamp.write_text(digest + "\n")
        say(f"  tar: written in {time.monotonic() - t0:.0f}s")
    say("")
    say("nothing changed: the bundle was reused as it was" if unchanged and reused_all
        else f"bundle made from commit {commit[:12]}{' (with uncommitted changes)' if dirty else ''}")
    for name, _, _, _ in parts:
        say(f"  {name:15} {human(done[name]['size']):>10}")
    say(f"  {'total':15} {human(manifest['total_size']):>10}   ({len(files)} files, "
        f"{time.monotonic() - started:.0f}s)")
    say(f"folder: {folder}\ntar:    {tar}")
    say("on each laptop: ./labctl up --bundle <the folder or the .tar>")
    return folder


def _still_there(folder: Path, files: dict) -> bool:
    for rel, want in files.items():
        p = folder / rel
        if not p.is_file() or p.stat().st_size != want["size"] or int(p.stat().st_mtime) != want.get("mtime"):
            return False
    return True


def _manager_images(manager: str, registry: str, base: str, label: str) -> dict[str, str]:
    """registry:2 and the images the deployed stack runs, name -> image id in
    the manager's engine. Read from the running lab, so a new or renamed app
    image is bundled without a list here. An image the registry held from an
    earlier run was never built on this manager: it is pulled from the lab
    registry first."""
    def sh(*argv: str):
        return subprocess.run(["docker", "exec", manager, *argv], capture_output=True, text=True)

    services = sh("docker", "service", "ls", "--format", "{{.Image}}")
    if services.returncode != 0:
        raise BundleError(f"the lab's manager ({manager}) does not answer: {services.stderr.strip()[-300:]}",
                          hint="bring the lab up with `invoke lab.up` (it builds every image), then make the bundle")
    names = sorted({line.split("@")[0] for line in services.stdout.split() if line.startswith(f"{registry}/")})
    if not names:
        raise BundleError(f"no service of the lab runs an image of its registry {registry}",
                          hint="run `invoke lab.up` first")
    found = {}
    for name in ["registry:2"] + names:
        got = sh("docker", "image", "inspect", "--format", f'{{{{.Id}}}} {{{{index .Config.Labels "{label}"}}}}', name)
        if got.returncode != 0 and name != "registry:2":
            sh("docker", "pull", "-q", name)
            got = sh("docker", "image", "inspect", "--format", f'{{{{.Id}}}} {{{{index .Config.Labels "{label}"}}}}', name)
        if got.returncode != 0 or len(got.stdout.split()) < 2:
            raise BundleError(f"the image {name} is not in the manager's engine (nor its registry) with the "
                              f"lab's label", hint="run `invoke lab.up` first")
        found[name] = got.stdout.split()[0]
    return found


def _manager_size(manager: str, names: list[str]) -> int:
    out = _run(["docker", "exec", manager, "docker", "image", "inspect", "--format", "{{.Size}}"] + names,
               "reading the images' sizes")
    return sum(int(x) for x in out.split())


def _box_file(config) -> Path:
    """The libvirt box as Vagrant keeps it once added (lab.box.build adds it
    and removes its own .box), packed again as a .box file."""
    from . import box
    name = box.box_name(config.name).replace("/", "-VAGRANTSLASH-")
    home = Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")
    found = sorted(home.glob(f"boxes/{name}/*/libvirt/box.img"))
    if not found:
        raise BundleError(f"no libvirt box {box.box_name(config.name)} in {home}",
                          hint="build it first: invoke lab.box.build")
    return found[-1]


def _pack_box(img: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run(["tar", "-cf", str(dest), "-C", str(img.parent), "metadata.json", "Vagrantfile", "box.img"],
         "packing the libvirt box")


def load_host_images(folder: Path, config_path: str) -> str:
    """docker load the Debian base and the node image unless the engine has
    them already (same ids); the node image is tagged for this lab's name."""
    from . import config as configmod, images
    manifest = read_manifest(folder)
    wanted = manifest["images"]["host"]

    def image_id(name: str) -> str:
        return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name],
                              capture_output=True, text=True).stdout.strip()

    missing = [n for n, i in wanted.items() if image_id(n) != i]
    if missing:
        _run(["docker", "load", "-q", "-i", str(folder / "images" / "host.tar.gz")], "docker load of the host's images")
    node = images.node_image_name(configmod.load(config_path).name)
    made = next(n for n in wanted if n.endswith("/node:bookworm"))
    if image_id(node) != wanted[made]:
        _run(["docker", "tag", made, node], "docker tag of the node image")
    return (f"loaded {', '.join(missing)}" if missing else "already in the engine") + f"; node image {node}"


def main(argv: list[str] | None = None) -> int:
    """`python3 -m lab.bundle prepare PATH [--force]`: labctl's first step;
    `load FOLDER CONFIG`: its docker load, once the engine runs."""
    parser = argparse.ArgumentParser(prog="python3 -m lab.bundle")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="verify a bundle and put it where the lab reads it")
    p.add_argument("path")
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("load", help="docker load the host's images from the bundle in place")
    p.add_argument("folder")
    p.add_argument("config")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.command == "load":
            print(f"images: {load_host_images(Path(args.folder), args.config)}")
            return 0
        prepared = prepare(Path(args.path), force=args.force)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"  next: {exc.hint}", file=sys.stderr)
        return 1
    if prepared.warning:
        print(f"warning: {prepared.warning}", file=sys.stderr)
    how = "already in place, verified" if prepared.reused else "verified and put in place"
    print(f"{prepared.banner()} ({human(prepared.manifest['total_size'])}, "
          f"{len(prepared.manifest['files'])} files, {how} in {time.monotonic() - started:.0f}s)")
    print(prepared.folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
