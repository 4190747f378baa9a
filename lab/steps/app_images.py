"""Tutorial steps 4 and 7: set the frontend's environment, build the five
images on the manager, tag them <manager>:4000/<name> and push them.

Each image is a step line of its own. An image whose inputs did not change is
neither rebuilt nor pushed again; one whose build fails is named with the tail
of its build output, and the images already pushed stay in the registry.
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from .. import overlap
from ..build import build, ensure_base, inputs, tree
from ..images import INPUTS_LABEL
from ..remote import together
from ..runlog import LabError
from .registry import catalog_from
from . import Context, Problem, app_source
from . import frontend_env as frontend_env_step

NAME = "images: build the app's images and push them to the lab registry"


@dataclass(frozen=True)
class AppImage:
    name: str
    files: dict
    dockerfile: str = "Dockerfile"
    build_args: tuple = ()


# The three nginx images share one Dockerfile and differ by their conf.
PROXY_DOCKERFILE = "compose/nginx-proxy/Dockerfile"
PROXIES = {"nginx-frontend": "nginx-frontend.conf", "nginx-backend": "nginx-backend.conf", "mesh": "mesh.conf"}


def frontend_env(ctx: Context) -> bytes:
    """Tutorial step 4: the app's name and the API's public address, as the
    browser reaches it (through the host's 127.0.0.1 forward)."""
    return frontend_env_step.content(ctx).encode()


def proxy_image(root: Path, name: str) -> AppImage:
    conf = PROXIES[name]
    files = {PROXY_DOCKERFILE: root / PROXY_DOCKERFILE, f"nginx/{conf}": root / "nginx" / conf}
    return AppImage(name, files, PROXY_DOCKERFILE, (("CONF", conf),))


def app_images(ctx: Context, names: list[str]) -> list[AppImage]:
    root = ctx.config.root
    known = {
        "database": lambda: AppImage("database", tree(root / "compose" / "database")),
        "backend": lambda: AppImage("backend", tree(root / "compose" / "backend")),
        "frontend": lambda: AppImage("frontend", tree(root / "compose" / "frontend") | {".env": frontend_env(ctx)}),
        **{name: (lambda name=name: proxy_image(root, name)) for name in PROXIES},
    }
    return [known[n]() for n in names]


MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_get(ctx: Context, path: str, accept: str | None = None) -> str | None:
    header = f"-H 'Accept: {accept}' " if accept else ""
    out = ctx.manager_sh(f"curl -fsS {header}http://{ctx.config.registry}/v2/{path}", check=False, teach=False)
    return out.stdout if out.ok else None


def registry_inputs(ctx: Context, name: str, ref: str = "latest") -> str | None:
    """The inputs label of the image the registry holds under name:ref.

    The registry's storage is a cache that outlives the lab (.lab/cache on the
    docker provider): an image it already holds with the same inputs needs
    neither a build nor a push, even on a manager whose engine is new."""
    manifest = registry_get(ctx, f"{name}/manifests/{ref}", MANIFEST_V2)
    try:
        config_digest = json.loads(manifest)["config"]["digest"] if manifest else None
        blob = registry_get(ctx, f"{name}/blobs/{config_digest}") if config_digest else None
        return (json.loads(blob).get("config", {}).get("Labels") or {}).get(INPUTS_LABEL) if blob else None
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


# One SSH round trip for every image's label in the registry (python3 is on
# every node): a no-op lab.up asks about six images.
REGISTRY_LABELS = r"""
import json, sys, urllib.request
registry, accept, label, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def get(path, headers={}):
    try:
        request = urllib.request.Request(f"http://{registry}/v2/{path}", headers=headers)
        return json.load(urllib.request.urlopen(request, timeout=10))
    except Exception:
        return None
found = {}
for name in names:
    digest = ((get(f"{name}/manifests/latest", {"Accept": accept}) or {}).get("config") or {}).get("digest")
    blob = get(f"{name}/blobs/{digest}") if digest else None
    found[name] = (((blob or {}).get("config") or {}).get("Labels") or {}).get(label)
print(json.dumps(found))
"""


def registry_labels(ctx: Context, names: list[str]) -> dict[str, str | None]:
    """The inputs label of each image the registry holds as name:latest
    (None: not there, or not readable), like registry_inputs for many at once."""
    args = " ".join(shlex.quote(a) for a in (ctx.config.registry, MANIFEST_V2, INPUTS_LABEL, *names))
    out = ctx.manager_sh(f"python3 -c {shlex.quote(REGISTRY_LABELS)} {args}", check=False, teach=False)
    try:
        found = json.loads(out.out) if out.ok else {}
    except json.JSONDecodeError:
        found = {}
    return {name: found.get(name) for name in names}


def build_and_push(ctx: Context, image: AppImage, in_registry: str | None = None) -> None:
    """in_registry: the label the registry's copy has, when already asked."""
    m = ctx.config.manager.name
    tag = f"{ctx.config.registry}/{image.name}:latest"
    with ctx.run.step(f"image: {image.name}") as step:
        _, _, wanted = inputs(image.files, image.dockerfile, dict(image.build_args))
        if (in_registry or registry_inputs(ctx, image.name)) == wanted:
            ctx.run.show_command(m, f"docker build -t {tag} . && docker push {tag}")
            step.detail = "cached (the registry holds this build)"
            return
        built = build(ctx, m, tag, image.files, dockerfile=image.dockerfile, build_args=dict(image.build_args),
                      what=image.name, keep_on_host=False)
        ctx.manager_sh(f"docker push {tag}", timeout=900)
        step.changed(("built and " if built else "") + f"pushed {tag}")


def builds_at_once(cpus: int = 0) -> int:
    """How many images build on the manager together: LAB_BUILDS, else 2 (see
    docs/benchmarks.md for 1, 2 and 3 on a 2-core host), and never more than
    the manager has CPUs (`cpus`, from the probe; 0: not known): on a 1-vCPU
    VM two builds only take turns on the one CPU."""
    value = os.environ.get("LAB_BUILDS")
    if value is None:
        return max(1, min(2, cpus or 2))
    if not value.isdigit() or int(value) < 1:
        raise LabError(f"LAB_BUILDS={value!r} is not a number of builds", hint="set LAB_BUILDS to 1, 2, 3 ... or unset it")
    return int(value)


def build_all(ctx: Context, names: list[str]) -> None:
    """Every image, a few at once; each keeps its own step line, in `names`' order."""
    at_once = builds_at_once(ctx.caps.cpus)
    # The base in the manager's engine (loaded once, before two builds could
    # both load it) and what the registry holds: two round trips at once.
    _, known = together(lambda: ensure_base(ctx, ctx.config.manager.name), lambda: registry_labels(ctx, names))

    def job(image):
        return overlap.Job(image.name, lambda view: build_and_push(replace(ctx, run=view), image, known.get(image.name)))
    overlap.run_jobs(ctx.run, [job(i) for i in app_images(ctx, names)], at_once=at_once)
    check_catalog(ctx, names)


def check_catalog(ctx: Context, names: list[str] | tuple[str, ...]) -> list[str]:
    """Tutorial step 7's check: curl http://<manager>:4000/v2/_catalog lists them."""
    ctx.run.show_command(ctx.config.manager.name, f"curl http://{ctx.config.registry}/v2/_catalog")
    listed = catalog_from(ctx, ctx.config.manager.name)
    missing = [n for n in names if n not in (listed or [])]
    if listed is None or missing:
        raise LabError("the registry catalog " + ("does not answer" if listed is None
                                                   else f"does not list {', '.join(missing)}"),
                       command=f"curl http://{ctx.config.registry}/v2/_catalog", output=json.dumps(listed))
    return listed


def expected(ctx: Context) -> list[str]:
    """The images the stack to deploy runs (with the mesh stand-in, if any)."""
    from .deploy import render
    return render(ctx).images()


def build_command(ctx: Context, name: str) -> str:
    tag = f"{ctx.config.registry}/{name}"
    if name in PROXIES:
        return (f"cd {app_source.CLONE} && docker build -t {tag} -f {PROXY_DOCKERFILE} "
                f"--build-arg CONF={PROXIES[name]} .")
    folder = {"database": "database", "backend": "backend", "frontend": "frontend"}[name]
    return f"cd {app_source.CLONE} && docker build -t {tag} compose/{folder}"


def teach(ctx: Context) -> list[tuple[str, str]]:
    """Tutorial step 7, typed on the manager in the clone of the app."""
    m = ctx.config.manager.name
    names = expected(ctx)
    compose = f"{app_source.CLONE}/compose/docker-compose.yaml"
    return ([(m, f"sed -i -e 's|<ip-manager>:4000|{ctx.config.registry}|g' "
                 f"-e 's|<ip-manager>|{ctx.config.manager.address}|g' {compose}")]
            + [(m, build_command(ctx, n)) for n in names]
            + [(m, f"docker push {ctx.config.registry}/{n}") for n in names]
            + [(m, f"curl http://{ctx.config.registry}/v2/_catalog")])


def check(ctx: Context) -> list[str]:
    m = ctx.config.manager.name
    registry = ctx.config.registry
    listed = catalog_from(ctx, m)
    if listed is None:
        return [Problem("registry_unreadable", node=m, registry=registry)]
    missing = [n for n in expected(ctx) if n not in listed]
    if not missing:
        return []
    local = set(ctx.manager_sh("docker images --format '{{.Repository}}'", check=False, teach=False).stdout.split())
    problems = []
    for name in missing:
        loopback = [r for r in (f"localhost:{ctx.config.registry_port}/{name}",
                                f"127.0.0.1:{ctx.config.registry_port}/{name}") if r in local]
        if f"{registry}/{name}" in local:
            problems.append(Problem("image_not_pushed", node=m, image=name, tag=f"{registry}/{name}"))
        elif loopback:
            problems.append(Problem("image_localhost", node=m, image=name, found=loopback[0],
                                    tag=f"{registry}/{name}"))
        else:
            problems.append(Problem("image_missing", node=m, image=name, tag=f"{registry}/{name}"))
    return problems


def apply(ctx: Context, step, missing) -> None:
    build_all(ctx, expected(ctx))
