"""Commands on the nodes, visible and logged.

Every remote command goes through `sh()`: it is written to the run log, shown
in teaching mode with the node it runs on, and a failure becomes a LabError
naming the node, the command and the tail of its output.
"""
from __future__ import annotations

import shlex
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterable, TypeVar

from fabric import Connection

from .runlog import LabError, Run

T = TypeVar("T")
SSH_OPEN_TIMEOUT = 30


def sh(run: Run, conn: Connection, node: str, command: str, *, sudo: bool = True, check: bool = True,
       timeout: int | None = None, teach: bool = True, in_stream: BinaryIO | None = None,
       shown: str | None = None) -> "Result":
    """Run one shell command on a node (as root unless sudo=False).

    in_stream: a binary file whose bytes become the command's standard input
    (a build context, a `docker save` stream). shown: a short form of a long
    script, for error messages (the log keeps the whole script)."""
    if teach:
        run.show_command(node, command)
    else:
        run.log(f"[{node}]# {command}")
    wrapped = f"sudo -n sh -c {shlex.quote(command)}" if sudo else command
    try:
        if in_stream is not None:
            res = _run_with_input(conn, wrapped, in_stream, timeout)
        else:
            result = conn.run(wrapped, hide=True, warn=True, timeout=timeout, pty=False)
            res = Result(result.return_code, result.stdout or "", result.stderr or "")
    except Exception as exc:  # noqa: BLE001 - SSH-level failures: name the node
        raise LabError(f"could not run a command on {node}: {exc}", command=command, node=node,
                       hint=f"is {node} up? `invoke lab.nodes.status` shows it") from None
    out = res.stdout + res.stderr
    if out.strip():
        run.log(out)
    if check and not res.ok:
        raise LabError(f"a command failed on {node} (exit {res.code})", command=shown or command, node=node,
                       output=out)
    return res


def _run_with_input(conn: Connection, command: str, source: BinaryIO, timeout: int | None) -> "Result":
    # Invoke's in_stream reads one character at a time and decodes it as text,
    # which is both slow and wrong for binary data: use the SSH channel itself.
    conn.open()
    channel = conn.client.get_transport().open_session(timeout=SSH_OPEN_TIMEOUT)
    channel.set_combine_stderr(True)
    if timeout:
        channel.settimeout(timeout)
    channel.exec_command(command)
    received: list[bytes] = []

    def drain():
        while chunk := channel.recv(65536):
            received.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    while chunk := source.read(1 << 20):
        channel.sendall(chunk)
    channel.shutdown_write()
    reader.join(timeout)
    code = channel.recv_exit_status()
    channel.close()
    return Result(code, b"".join(received).decode(errors="replace"), "")


class Result:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def out(self) -> str:
        return self.stdout.strip()


def on_each(items: Iterable[T], work: Callable[[T], object]) -> list:
    """Run `work` for every item in parallel. Every item finishes (the work
    that succeeded is kept); then the first failure, if any, is raised."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
    results, errors = [], []
    for f in futures:
        try:
            results.append(f.result())
        except LabError as exc:
            errors.append(exc)
    if errors:
        first = errors[0]
        if len(errors) > 1:
            others = ", ".join(e.node or "?" for e in errors[1:])
            first.hint = (first.hint + "; " if first.hint else "") + f"also failed: {others} (see the full log)"
        raise first
    return results


def together(*reads: Callable[[], object]) -> list:
    """Reads that do not depend on each other (each a round trip to a node;
    one SSH connection carries several at once): all at the same time, their
    answers in the order given."""
    return on_each(reads, lambda read: read())
