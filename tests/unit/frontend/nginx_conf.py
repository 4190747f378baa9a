"""Just enough of nginx's config grammar to assert on what a conf says:
directives with arguments, blocks, quotes and comments. (A module of its own,
not conftest, so that importing it is never ambiguous.)"""
import re
from dataclasses import dataclass, field

TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"])*"|'(?:\\.|[^'])*'|[{};]|[^\s{};"'#]+""")


@dataclass
class Directive:
    name: str
    args: list
    children: list = field(default_factory=list)
    is_block: bool = False

    def all(self, name):
        return [child for child in self.children if child.name == name]

    def one(self, name, *args):
        found = [d for d in self.all(name) if list(d.args[: len(args)]) == list(args)]
        assert len(found) == 1, f"expected one {name} {args} in {self.name}, found {found}"
        return found[0]


def tokens(text):
    for token in TOKEN.findall(text):
        if token.startswith("#"):
            continue
        if token[0] in "\"'":
            token = token[1:-1]
        yield token


def parse(text):
    root = Directive("main", [], is_block=True)
    stack, words = [root], []
    for token in tokens(text):
        if token == ";":
            stack[-1].children.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block = Directive(words[0], words[1:], is_block=True)
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words and len(stack) > 1, "unbalanced braces"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unterminated block or directive"
    return root


def effective(name, *levels):
    """An array directive (proxy_set_header, add_header) as nginx applies it:
    a level inherits its parent's list only if it defines none itself."""
    for level in reversed(levels):
        found = level.all(name)
        if found:
            return [tuple(d.args) for d in found]
    return []


# -- running a conf for real, on this host -------------------------------------

import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

NGINX_DIR = Path(__file__).resolve().parents[3] / "nginx"
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary():
    """Debian's nginx (./labctl installs it without starting it), or NGINX_BIN."""
    candidates = [os.environ.get("NGINX_BIN"), shutil.which("nginx"), "/usr/sbin/nginx"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def with_local_temp_dirs(text, prefix):
    """The conf with its temp directories under `prefix`: Debian's nginx
    otherwise wants /var/lib/nginx, which exists only where the package is."""
    temp = "".join(f"    {kind}_temp_path {prefix}/{kind};\n" for kind in TEMP_KINDS)
    return text.replace("http {\n", "http {\n" + temp, 1)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(name, prefix, upstream, upstream_port):
    """nginx serving conf `name` on 127.0.0.1:<port it yields>, its upstream
    (service name, port) pointed at 127.0.0.1:upstream_port; everything else
    as in the image (the same file, with only addresses and paths changed)."""
    nginx = nginx_binary()
    assert nginx, "no nginx binary (./labctl installs Debian's nginx; or set NGINX_BIN)"
    port = free_port()
    text = with_local_temp_dirs((NGINX_DIR / name).read_text(), prefix)
    text = text.replace("user www-data;", "user root;" if os.geteuid() == 0 else "")
    for listen in ("listen 80;", "listen 8080;"):
        text = text.replace(listen, f"listen 127.0.0.1:{port};")
    name_, port_ = upstream
    assert f"set $up {name_};" in text and f"proxy_pass http://$up:{port_};" in text
    text = text.replace(f"set $up {name_};", "set $up 127.0.0.1;")
    text = text.replace(f"proxy_pass http://$up:{port_};", f"proxy_pass http://$up:{upstream_port};")
    conf = Path(prefix) / name
    conf.write_text(text)
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-e", "stderr", "-c", str(conf), "-g", f"daemon off; pid {prefix}/nginx.pid;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, f"nginx exited: {process.stderr.read()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
