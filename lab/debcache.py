"""The host's apt cache, also kept as a repository of uncompressed packages.

Every node container mounts the host's apt cache (/var/cache/lab-apt): the
docker step downloads each .deb once for all nodes. Debian compresses a
package's files with xz, and four nodes unpacking containerd and docker.io
at once spend most of the docker step on xz (about 3.5 CPU-s a node against
2 cores). So the lab also keeps those same packages with their file archive
stored uncompressed (data.tar instead of data.tar.xz: the same files, the
same control data, only the compression differs) with an index made from
Debian's own stanzas, and the docker step installs from it when the index
was made from the very package list the node reads. Anything else (no such
copy, another list, a failed install) goes Debian's way, unchanged.

The copy is made on the host: on a first lab.up right after one node has
downloaded the packages (lab/steps/docker.py), later after the docker step
on a thread of low priority when the cache changed. It is replaced as a
whole: a reader sees the old copy or the new one.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Beside the .debs in the host's apt cache; the nodes see it under
# /var/cache/lab-apt/uncompressed.
FOLDER = "uncompressed"
# Names the lists the index was made from, a line each: the node installs
# from the copy only when its own lists are these, byte for byte.
MADE_FROM = "made-from"
# What the copy was made of (each .deb's name and size, each list's size and
# time): unchanged, nothing is made again.
STAMP = "stamp.json"
AR_MAGIC = b"!<arch>\n"
CHUNK = 1 << 20
# The fields of a Packages stanza that describe the file, not the package.
FILE_FIELDS = ("Filename:", "Size:", "MD5sum:", "SHA1:", "SHA256:", "SHA512:")


class NotADeb(ValueError):
    pass


def ar_members(data: bytes):
    """(name, header, body) of each member of an ar archive (a .deb is one)."""
    if not data.startswith(AR_MAGIC):
        raise NotADeb("no ar header")
    pos = len(AR_MAGIC)
    while pos < len(data):
        header = data[pos:pos + 60]
        if len(header) < 60 or header[58:60] != b"`\n":
            raise NotADeb(f"bad member header at byte {pos}")
        size = int(header[48:58])
        body = data[pos + 60:pos + 60 + size]
        if len(body) != size:
            raise NotADeb("member cut short")
        yield header[:16].decode().rstrip().rstrip("/"), header, body
        pos += 60 + size + (size & 1)


def ar_header(name: str, header: bytes, size: int) -> bytes:
    """A member's header with the old one's time, owner and mode, and a new name and size."""
    return f"{name:<16}".encode() + header[16:48] + f"{size:<10}".encode() + b"`\n"


def ar_member(name: str, header: bytes, body: bytes) -> bytes:
    return ar_header(name, header, len(body)) + body + (b"\n" if len(body) & 1 else b"")


def decompressor(name: str):
    if name == "data.tar.xz":
        return lzma.LZMADecompressor()
    if name == "data.tar.gz":
        return zlib.decompressobj(wbits=31)
    return None


def unpacked(unpack, body: bytes):
    """The decompressed body, a CHUNK at most at a time."""
    lz = isinstance(unpack, lzma.LZMADecompressor)
    pending = body
    while not unpack.eof:
        chunk = unpack.decompress(pending, CHUNK)
        pending = b"" if lz else unpack.unconsumed_tail
        if not chunk and (unpack.needs_input if lz else not pending):
            raise NotADeb("data.tar cut short")
        yield chunk


def write_uncompressed(deb: bytes, out) -> None:
    """The same package, written to the binary file `out`, with its data.tar
    stored uncompressed (dpkg reads a plain data.tar member as it reads a
    compressed one). Decompressed a MiB at a time: a 150 MB docker.io never
    sits in memory whole."""
    out.write(AR_MAGIC)
    for name, header, body in ar_members(deb):
        unpack = decompressor(name)
        if unpack is None:
            out.write(ar_member(name, header, body))
            continue
        start = out.tell()
        out.write(ar_header("data.tar", header, 0))  # its size once it is known
        size = 0
        for chunk in unpacked(unpack, body):
            out.write(chunk)
            size += len(chunk)
        if size & 1:
            out.write(b"\n")
        end = out.tell()
        out.seek(start)
        out.write(ar_header("data.tar", header, size))
        out.seek(end)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stanzas(text: str):
    for block in text.split("\n\n"):
        if block.strip():
            yield block.strip("\n")


def field(stanza: str, name: str) -> str | None:
    for line in stanza.splitlines():
        if line.startswith(name + ": "):
            return line.split(": ", 1)[1]
    return None


def lists(cache: Path) -> list[Path]:
    return sorted((cache / "lists").glob("*_Packages"))


def stamp(cache: Path) -> dict:
    return {"debs": sorted((p.name, p.stat().st_size) for p in cache.glob("*.deb")),
            "lists": sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in lists(cache))}


def current(cache: Path) -> bool:
    """Whether the copy was made from what the cache holds now."""
    try:
        return json.loads((cache / FOLDER / STAMP).read_text()) == json.loads(json.dumps(stamp(cache)))
    except (OSError, ValueError):
        return False


def listed(cache: Path, sources: list[Path]) -> list[tuple[str, Path]]:
    """(stanza, .deb) for each cached .deb one of the lists names (the same
    file name: the same version from the same mirror), in the lists' order."""
    debs = {p.name: p for p in cache.glob("*.deb")}
    pairs = []
    for source in sources:
        for stanza in stanzas(source.read_text(errors="replace")):
            filename = field(stanza, "Filename")
            deb = debs.pop(filename.rsplit("/", 1)[-1], None) if filename else None
            if deb is not None:
                pairs.append((stanza, deb))
    return pairs


def copy_one(stanza: str, deb: Path, folder: Path) -> str | None:
    """The package copied uncompressed into `folder`, and its index entry
    (None for a damaged package, left out)."""
    copy = folder / deb.name
    try:
        with copy.open("wb") as out:
            write_uncompressed(deb.read_bytes(), out)
    except (NotADeb, lzma.LZMAError, zlib.error):
        copy.unlink()
        return None
    kept = [l for l in stanza.splitlines() if not l.startswith(FILE_FIELDS)]
    return "\n".join(kept + [f"Filename: ./{deb.name}", f"Size: {copy.stat().st_size}",
                             f"SHA256: {sha256(copy)}"])


def make(cache: Path) -> int:
    """(Re)makes the copy of every cached .deb that one of the cached lists
    names, with an index of those lists' stanzas, a package on each CPU at a
    time (xz and SHA256 let go of Python's lock). Returns how many packages
    the copy holds."""
    sources = lists(cache)
    before = stamp(cache)
    pairs = listed(cache, sources)
    if not pairs:
        return 0
    work = cache / f".{FOLDER}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            entries = list(pool.map(lambda pair: copy_one(*pair, work), pairs))
        index = [e for e in entries if e is not None]
        (work / "Packages").write_text("\n\n".join(index) + "\n")
        (work / MADE_FROM).write_text("".join(f"{s.name}\n" for s in sources))
        (work / STAMP).write_text(json.dumps(before))
        replace(work, cache / FOLDER)
        return len(index)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def replace(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old.{os.getpid()}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def refresh_later(cache: Path) -> threading.Thread | None:
    """Makes the copy again on a thread of the lowest priority when the cache
    changed: it takes what the lab leaves of the CPUs. Not a daemon thread:
    the process waits for it at exit rather than leave a half-made copy
    (which `replace` never shows anyway)."""
    if not cache.is_dir() or current(cache):
        return None

    def work():
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
        try:
            make(cache)
        except OSError:
            pass  # a cache: the next lab.up installs Debian's way and tries again

    thread = threading.Thread(target=work, name="lab-debcache")
    thread.start()
    return thread
