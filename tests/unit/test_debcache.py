"""The uncompressed copy of the host's apt cache (lab/debcache.py), made from
real packages built here with dpkg-deb and read back with dpkg-deb."""
import hashlib
import os
import subprocess

import pytest

from lab import debcache

LIST = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"


def build(tmp_path, name, version, compression="xz"):
    root = tmp_path / f"src-{name}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: lab <lab@localhost>\n"
        f"Description: a package of the tests\n")
    (root / "usr" / "share" / name).mkdir(parents=True)
    # Sizes odd and even, and text that compresses well, as real packages do.
    (root / "usr" / "share" / name / "notes").write_text("the same line, again and again\n" * 4001)
    (root / "usr" / "share" / name / "blob").write_bytes(os.urandom(12345))
    deb = tmp_path / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", f"-Z{compression}", "--root-owner-group", "-b", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def stanza(deb, name, version):
    body = deb.read_bytes()
    return (f"Package: {name}\nVersion: {version}\nInstalled-Size: 60\nMaintainer: lab <lab@localhost>\n"
            f"Architecture: all\nDescription: a package of the tests\n"
            f"Filename: pool/main/{name[0]}/{name}/{deb.name}\nSize: {len(body)}\n"
            f"MD5sum: {hashlib.md5(body).hexdigest()}\nSHA256: {hashlib.sha256(body).hexdigest()}\n")


@pytest.fixture
def cache(tmp_path):
    cache = tmp_path / "apt"
    (cache / "lists").mkdir(parents=True)
    listed = [("hello", "1.0", "xz"), ("world", "2.0-1", "gzip")]
    text = []
    for name, version, compression in listed:
        deb = build(tmp_path, name, version, compression)
        text.append(stanza(deb, name, version))
        deb.rename(cache / deb.name)
    # A package no list names (an older version left in the cache).
    build(tmp_path, "stale", "0.9").rename(cache / "stale_0.9_all.deb")
    (cache / "lists" / LIST).write_text("\n".join(text))
    return cache


def fsys(deb):
    return subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout


def members(deb):
    return [name for name, _, _ in debcache.ar_members(deb.read_bytes())]


def index(cache):
    text = (cache / debcache.FOLDER / "Packages").read_text()
    return {debcache.field(s, "Package"): s for s in debcache.stanzas(text)}


def test_each_listed_package_is_copied_with_its_files_uncompressed(cache):
    assert debcache.make(cache) == 2
    copy = cache / debcache.FOLDER
    for name in ("hello_1.0_all.deb", "world_2.0-1_all.deb"):
        assert members(copy / name) == ["debian-binary", "control.tar.xz" if name.startswith("hello")
                                        else "control.tar.gz", "data.tar"]
        assert fsys(copy / name) == fsys(cache / name)
        subprocess.run(["dpkg-deb", "--info", str(copy / name)], check=True, capture_output=True)
    assert not (copy / "stale_0.9_all.deb").exists()
    assert (copy / debcache.MADE_FROM).read_text() == f"{LIST}\n"


def test_the_index_keeps_debians_stanza_and_describes_the_new_file(cache):
    debcache.make(cache)
    copy = cache / debcache.FOLDER
    stanzas = index(cache)
    assert sorted(stanzas) == ["hello", "world"]
    hello = stanzas["hello"]
    body = (copy / "hello_1.0_all.deb").read_bytes()
    assert debcache.field(hello, "Filename") == "./hello_1.0_all.deb"
    assert debcache.field(hello, "Size") == str(len(body))
    assert debcache.field(hello, "SHA256") == hashlib.sha256(body).hexdigest()
    assert debcache.field(hello, "MD5sum") is None
    assert debcache.field(hello, "Installed-Size") == "60"
    assert debcache.field(hello, "Description") == "a package of the tests"


def test_the_copy_is_made_again_only_when_the_cache_changed(cache, tmp_path):
    assert not debcache.current(cache)
    debcache.make(cache)
    assert debcache.current(cache)
    assert debcache.refresh_later(cache) is None
    build(tmp_path, "more", "1").rename(cache / "more_1_all.deb")
    assert not debcache.current(cache)
    thread = debcache.refresh_later(cache)
    thread.join()
    assert debcache.current(cache)


def test_a_damaged_package_is_left_out_and_the_rest_copied(cache):
    hello = cache / "hello_1.0_all.deb"
    hello.write_bytes(hello.read_bytes()[:-500])
    assert debcache.make(cache) == 1
    assert sorted(index(cache)) == ["world"]
    assert not (cache / debcache.FOLDER / hello.name).exists()


def test_nothing_is_made_without_packages_or_lists(tmp_path):
    empty = tmp_path / "apt"
    empty.mkdir()
    assert debcache.make(empty) == 0
    assert not (empty / debcache.FOLDER).exists()
    assert debcache.refresh_later(tmp_path / "no-such-cache") is None


def test_a_new_copy_replaces_the_old_one_whole(cache, tmp_path):
    debcache.make(cache)
    (cache / "hello_1.0_all.deb").unlink()
    (cache / "lists" / LIST).write_text((cache / "lists" / LIST).read_text())
    assert debcache.make(cache) == 1
    assert sorted(p.name for p in (cache / debcache.FOLDER).glob("*.deb")) == ["world_2.0-1_all.deb"]
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []
