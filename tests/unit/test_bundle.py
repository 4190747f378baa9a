"""The offline bundle's manifest and refusals (lab/bundle.py): real files in
temporary folders, a real git checkout, real tar files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import bundle

ROOT = Path(__file__).resolve().parents[2]


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A lab checkout with one commit (the bundle is compared with it)."""
    root = tmp_path / "lab"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "commit", "-q", "--allow-empty", "-m", "one")
    return root


def make_bundle(where: Path, commit: str) -> Path:
    folder = where / "lab-bundle"
    files = {"apt/Packages": b"Package: demo\n", "apt/demo_1_all.deb": os.urandom(3000),
             "wheels/demo-1-py3-none-any.whl": os.urandom(5000), "images/host.tar.gz": os.urandom(20000)}
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    table = bundle.file_table(folder)
    manifest = {"format": bundle.FORMAT, "commit": commit, "date": "2026-12-01 16:00 UTC", "files": table,
                "total_size": sum(v["size"] for v in table.values()), "images": {"host": {}, "manager": {}}}
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))
    return folder


def make_tar(folder: Path) -> Path:
    tar = folder.with_name(folder.name + ".tar")
    subprocess.run(["tar", "-cf", str(tar), "-C", str(folder.parent), folder.name], check=True)
    return tar


def installed(root: Path) -> Path:
    return root / bundle.INSTALLED


def test_a_folder_that_matches_its_manifest_is_put_in_place(checkout, tmp_path):
    folder = make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD"))
    prepared = bundle.prepare(folder, root=checkout)
    assert prepared.folder == installed(checkout) and not prepared.reused
    assert (installed(checkout) / "wheels/demo-1-py3-none-any.whl").read_bytes() == \
        (folder / "wheels/demo-1-py3-none-any.whl").read_bytes()
    assert prepared.banner() == f"offline: bundle 2026-12-01 16:00 UTC, {git(checkout, 'rev-parse', 'HEAD')[:12]}"
    # The same bundle again: checked, not copied again.
    assert bundle.prepare(folder, root=checkout).reused


def test_a_tar_is_unpacked_verified_and_put_in_place(checkout, tmp_path):
    folder = make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD"))
    tar = make_tar(folder)
    shutil.rmtree(folder)
    prepared = bundle.prepare(tar, root=checkout)
    assert not prepared.reused
    assert bundle.verify(installed(checkout))["commit"] == git(checkout, "rev-parse", "HEAD")
    assert sorted(p.name for p in installed(checkout).parent.iterdir()) == ["bundle"]  # no staging left


@pytest.mark.parametrize("damage, named", [
    (lambda f: (f / "apt/demo_1_all.deb").unlink(), "missing: apt/demo_1_all.deb"),
    (lambda f: (f / "images/host.tar.gz").write_bytes(os.urandom(20000)), "corrupted: images/host.tar.gz"),
    (lambda f: (f / "wheels/demo-1-py3-none-any.whl").write_bytes(b"short"), "corrupted: wheels/demo-1-py3-none-any.whl"),
])
def test_a_missing_or_corrupted_file_is_named_and_nothing_is_installed(checkout, tmp_path, damage, named):
    folder = make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD"))
    damage(folder)
    with pytest.raises(bundle.BundleError, match=named.replace(".", r"\.")) as err:
        bundle.prepare(folder, root=checkout)
    assert "nothing was installed" in err.value.hint
    assert not (checkout / ".lab").exists()


def test_a_damaged_tar_member_is_named_after_unpacking_and_the_staging_removed(checkout, tmp_path):
    folder = make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD"))
    (folder / "apt/Packages").write_bytes(b"Package: demX\n")  # same size, other bytes
    tar = make_tar(folder)
    with pytest.raises(bundle.BundleError, match=r"corrupted: apt/Packages \(sha256"):
        bundle.prepare(tar, root=checkout)
    assert list(installed(checkout).parent.iterdir()) == []


def test_a_failed_bundle_leaves_the_one_in_place_untouched(checkout, tmp_path):
    good = make_bundle(tmp_path / "good", git(checkout, "rev-parse", "HEAD"))
    bundle.prepare(good, root=checkout)
    before = (installed(checkout) / bundle.MANIFEST).read_bytes()
    bad = make_bundle(tmp_path / "bad", git(checkout, "rev-parse", "HEAD"))
    (bad / "apt/Packages").unlink()
    with pytest.raises(bundle.BundleError, match="missing: apt/Packages"):
        bundle.prepare(bad, root=checkout)
    assert (installed(checkout) / bundle.MANIFEST).read_bytes() == before
    assert bundle.verify(installed(checkout))


def test_a_truncated_tar_is_refused_before_anything_is_unpacked(checkout, tmp_path):
    tar = make_tar(make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD")))
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    with pytest.raises(bundle.BundleError, match="(not a complete tar file|truncated)"):
        bundle.prepare(tar, root=checkout)
    assert not (checkout / ".lab").exists()


def test_a_path_that_does_not_exist_or_is_no_bundle_is_refused(checkout, tmp_path):
    with pytest.raises(bundle.BundleError, match="the path does not exist"):
        bundle.prepare(tmp_path / "nowhere", root=checkout)
    (tmp_path / "notes.txt").write_text("not a bundle")
    with pytest.raises(bundle.BundleError, match="neither a folder nor a tar file"):
        bundle.prepare(tmp_path / "notes.txt", root=checkout)
    (tmp_path / "empty").mkdir()
    with pytest.raises(bundle.BundleError, match="has no manifest.json"):
        bundle.prepare(tmp_path / "empty", root=checkout)
    assert not (checkout / ".lab").exists()


def test_a_bundle_of_another_commit_is_refused_naming_both_unless_forced(checkout, tmp_path):
    old = git(checkout, "rev-parse", "HEAD")
    git(checkout, "commit", "-q", "--allow-empty", "-m", "two")
    new = git(checkout, "rev-parse", "HEAD")
    folder = make_bundle(tmp_path, old)
    with pytest.raises(bundle.BundleError) as err:
        bundle.prepare(folder, root=checkout)
    assert old[:12] in str(err.value) and new[:12] in str(err.value) and "--force" in err.value.hint
    assert not (checkout / ".lab").exists()
    prepared = bundle.prepare(folder, root=checkout, force=True)
    assert "--force" in prepared.warning and "network" in prepared.warning and old[:12] in prepared.warning


def test_the_commit_is_read_without_git_too(checkout, tmp_path, monkeypatch):
    want = git(checkout, "rev-parse", "HEAD")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no git on a fresh laptop
    assert bundle.lab_commit(checkout) == want
    git_pack = subprocess.run(["/usr/bin/git", "-C", str(checkout), "pack-refs", "--all"], check=True)
    assert git_pack.returncode == 0 and bundle.lab_commit(checkout) == want


def test_a_manifest_whose_total_does_not_add_up_is_refused(checkout, tmp_path):
    folder = make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD"))
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    manifest["total_size"] += 1
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(bundle.BundleError, match="total_size"):
        bundle.verify(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_too_little_disk_says_how_much_is_needed_and_changes_nothing(checkout, tmp_path):
    tar = make_tar(make_bundle(tmp_path, git(checkout, "rev-parse", "HEAD")))
    small = checkout / ".lab"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        with pytest.raises(bundle.BundleError, match=r"not enough free disk space to unpack the bundle: "
                                                     r"[\d.]+ MiB needed .* free on") as err:
            bundle.prepare(tar, root=checkout)
        assert "nothing was installed" in err.value.hint
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_the_host_packages_are_labctls_own_list():
    packages = bundle.host_packages(ROOT)
    line = next(l for l in (ROOT / "labctl").read_text().splitlines() if l.startswith("APT_PACKAGES=("))
    assert packages[: len(line.split("(")[1].rstrip(")").split())] == line.split("(")[1].rstrip(")").split()
    assert "docker.io" in packages and "python3-venv" in packages


def test_labctl_refuses_a_bad_bundle_before_installing_anything(tmp_path):
    missing = subprocess.run([str(ROOT / "labctl"), "up", "--bundle", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "the path does not exist" in missing.stderr
    assert "Installing" not in missing.stdout + missing.stderr
    lonely = subprocess.run([str(ROOT / "labctl"), "up", "--force"], capture_output=True, text=True, timeout=60)
    assert lonely.returncode == 2 and "--force goes with --bundle" in lonely.stdout
