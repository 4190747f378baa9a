"""Building images inside a node's engine, from the lab's own Debian base.

The build context travels as a tar stream into `docker build -` over SSH, so
nothing is left in the node's home directory. Each image carries a label with
a hash of its context and build arguments: an unchanged image is not rebuilt.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import docker

from .images import BASE_IMAGE, INPUTS_LABEL, SLIM_IMAGE, build_slim, digest
from .runlog import LabError
from .steps import Context


def label_of(ctx: Context, node: str, image: str) -> str | None:
    out = ctx.sh(node, f"docker image inspect --format '{{{{index .Config.Labels \"{INPUTS_LABEL}\"}}}}' {image}",
                 check=False, teach=False)
    return out.out if out.ok and out.out not in ("", "<no value>") else None


_slim_label: str | None = None


def host_base_label() -> str:
    """The inputs label of the slim base (made from the full one when missing)."""
    global _slim_label
    if _slim_label is None:
        client = docker.from_env()
        build_slim(client)
        _slim_label = (client.images.get(SLIM_IMAGE).labels or {})[INPUTS_LABEL]
    return _slim_label


def ensure_base(ctx: Context, node: str) -> bool:
    """Copy the slim Debian base from the host engine into the node's engine,
    where it is tagged lab/debian:bookworm: the name every Dockerfile (and a
    trainee's plain `docker build`) builds from."""
    wanted = host_base_label()
    if label_of(ctx, node, BASE_IMAGE) == wanted:
        return False
    ctx.run.show_command("host", f"docker save {BASE_IMAGE} | ssh {node} docker load")
    save = subprocess.Popen(["docker", "save", SLIM_IMAGE], stdout=subprocess.PIPE)
    ctx.sh(node, f"docker load && docker tag {SLIM_IMAGE} {BASE_IMAGE}", in_stream=save.stdout,
           teach=False, timeout=600)
    save.wait()
    return True


def context_tar(files: dict[str, Path | bytes]) -> bytes:
    """A build context from {path in context: host file or bytes}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, src in sorted(files.items()):
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if not isinstance(src, bytes) and Path(src).stat().st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tree(root: Path, prefix: str = "") -> dict[str, Path]:
    skip = {"__pycache__", ".pytest_cache", "node_modules"}
    return {
        f"{prefix}{p.relative_to(root).as_posix()}": p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not skip & set(p.relative_to(root).parts) and p.suffix != ".pyc"
    }


def inputs(files: dict[str, Path | bytes], dockerfile: str, build_args: dict[str, str] | None) -> tuple[bytes, dict, str]:
    """The build context, the build arguments and the hash that labels the image."""
    args = dict(build_args or {}, BASE=BASE_IMAGE)
    tar = context_tar(files)
    return tar, args, digest(tar, dockerfile, *sorted(f"{k}={v}" for k, v in args.items()), host_base_label())


def build(ctx: Context, node: str, image: str, files: dict[str, Path | bytes], *,
          dockerfile: str = "Dockerfile", build_args: dict[str, str] | None = None,
          what: str | None = None, keep_on_host: bool = True) -> str:
    """Build `image` on `node` unless it exists with the same inputs. How the
    node's engine got a new image ("built", or "loaded" from the host's
    copy); "" when it had it already.

    keep_on_host: a built image is saved on the host (.lab/cache/images), with
    the base it was built from, and loaded into the next new node that needs
    the same inputs instead of being built again (registry:2 on every new
    manager); the node then has the base too. Images the lab pushes to its
    registry have the registry's own cache instead."""
    tar, args, wanted = inputs(files, dockerfile, build_args)
    if label_of(ctx, node, image) == wanted:
        return ""
    kept = kept_path(ctx, wanted)
    if keep_on_host and load_kept(ctx, node, image, kept, wanted):
        return "loaded"
    ensure_base(ctx, node)
    flags = " ".join(f"--build-arg {k}={v}" for k, v in sorted(args.items()))
    command = f"DOCKER_BUILDKIT=0 docker build -q --label {INPUTS_LABEL}={wanted} {flags} -f {dockerfile} -t {image} -"
    ctx.run.show_command(node, f"docker build -t {image} .")
    try:
        ctx.sh(node, command, in_stream=io.BytesIO(tar), teach=False, timeout=1200)
    except LabError as exc:
        exc.args = (f"building the {what or image} image failed",)
        exc.hint = "fix its Dockerfile or sources; images already built and pushed stay (see the log)"
        raise
    if keep_on_host:
        save_on_host(ctx, node, image, kept)
    return "built"


# Where a node sees the host's .lab/cache/images, when it does (the docker
# provider's node containers mount it read-only; a VM or a server does not).
NODE_KEPT_DIR = "/var/cache/lab-images"


def kept_path(ctx: Context, wanted: str) -> Path:
    """The host's saved copy of an image with these inputs ("+base": the copy
    holds the base too; copies from before it are not used)."""
    return ctx.state_dir / "cache" / "images" / f"{wanted}+base.tar"


def node_sees(ctx: Context, node: str, kept: Path) -> bool:
    """The node reads the host's copy itself: the same size at NODE_KEPT_DIR."""
    seen = ctx.sh(node, f"stat -c %s {NODE_KEPT_DIR}/{kept.name}", check=False, teach=False)
    return seen.ok and seen.out.strip() == str(kept.stat().st_size)


def load_kept(ctx: Context, node: str, image: str, kept: Path, wanted: str) -> bool:
    """Load the host's saved copy of `image` (and of its base) into the node;
    False when there is none or it does not carry the wanted inputs (then the
    image is built)."""
    if not kept.exists():
        return False
    ctx.run.show_command(node, f"docker build -t {image} .")
    ctx.run.log(f"{image}: loading the copy saved on the host ({kept}) instead of building it again")
    if node_sees(ctx, node, kept):
        loaded = ctx.sh(node, f"docker load -i {NODE_KEPT_DIR}/{kept.name}", teach=False, check=False, timeout=600)
    else:
        with kept.open("rb") as stream:
            loaded = ctx.sh(node, "docker load", in_stream=stream, teach=False, check=False, timeout=600)
    if loaded.ok and label_of(ctx, node, image) == wanted:
        # The base came in the same copy: tagged as the Dockerfiles (and a
        # trainee's docker build) name it, unless the node has it already.
        if label_of(ctx, node, BASE_IMAGE) is None:
            ctx.sh(node, f"docker tag {SLIM_IMAGE} {BASE_IMAGE}", teach=False, check=False)
        return True
    ctx.run.log(f"the saved copy of {image} did not load ({loaded.stdout[-500:]}); building it instead")
    kept.unlink(missing_ok=True)
    return False


def save_on_host(ctx: Context, node: str, image: str, kept: Path) -> None:
    """`docker save` of the image and its base on the node, streamed into a
    file on the host (the two share their base layers: about the size of the
    image alone). Best effort: without the copy the next new node builds the
    image, as before."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_suffix(".partial")
    conn = ctx.cluster[node]
    try:
        conn.open()
        channel = conn.client.get_transport().open_session(timeout=30)
        channel.settimeout(600)
        channel.exec_command(f"sudo docker save {image} {SLIM_IMAGE}")
        with partial.open("wb") as out:
            while chunk := channel.recv(1 << 20):
                out.write(chunk)
        code = channel.recv_exit_status()
        channel.close()
    except Exception as exc:  # noqa: BLE001 - a missing copy only costs a build later
        ctx.run.log(f"saving {image} on the host failed: {exc}")
        partial.unlink(missing_ok=True)
        return
    if code != 0:
        ctx.run.log(f"docker save {image} {SLIM_IMAGE} on {node} failed (exit {code})")
        partial.unlink(missing_ok=True)
        return
    # Copies of earlier inputs of the same image are of no use any more
    # (each copy's image name is in a file beside it).
    for named in kept.parent.glob("*.image"):
        if named.stem != kept.stem and named.read_text(errors="replace") == image:
            named.with_suffix(".tar").unlink(missing_ok=True)
            named.unlink(missing_ok=True)
    (kept.parent / f"{kept.stem}.image").write_text(image)
    partial.rename(kept)
    ctx.run.log(f"{image}: saved on the host as {kept}")
