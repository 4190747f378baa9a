"""The libvirt lane's host side, without libvirt: what it says and decides."""
import subprocess
from pathlib import Path

import pytest

from lab import box, libvirt
from lab.runlog import LabError, Run


@pytest.fixture
def run(tmp_path):
    r = Run(tmp_path, "test")
    yield r
    r.finish()


def test_without_root_the_missing_packages_are_named_with_the_exact_commands(monkeypatch, run):
    monkeypatch.setattr(libvirt, "missing_packages", lambda: ["libvirt-daemon-system", "dnsmasq-base"])
    monkeypatch.setattr(libvirt.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(libvirt, "systemd_runs", lambda: False)
    with pytest.raises(LabError) as err:
        libvirt.ensure_packages(run)
    assert "libvirt-daemon-system, dnsmasq-base" in str(err.value)
    assert err.value.command.splitlines() == [
        "sudo apt-get update", "sudo apt-get install -y libvirt-daemon-system dnsmasq-base",
        "sudo virtlogd -d", "sudo libvirtd -d"]


def test_without_root_a_stopped_libvirtd_is_named_with_its_start_commands(monkeypatch, run):
    monkeypatch.setattr(libvirt, "libvirt_answers", lambda: False)
    monkeypatch.setattr(libvirt.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(libvirt, "systemd_runs", lambda: True)
    with pytest.raises(LabError) as err:
        libvirt.ensure_daemons(run)
    assert err.value.command == "sudo systemctl start virtlogd libvirtd"


def fake_qemu(monkeypatch, output=None, timeout=False):
    def runner(argv, **kw):
        if timeout:
            raise subprocess.TimeoutExpired(argv, 60, output=output)
        return subprocess.CompletedProcess(argv, 1, output, "")
    monkeypatch.setattr(libvirt.subprocess, "run", runner)


@pytest.fixture
def boot(tmp_path):
    (tmp_path / "vmlinuz").write_bytes(b"")
    (tmp_path / "initrd.img").write_bytes(b"")
    return tmp_path


def test_kvm_is_used_only_when_the_test_kernel_really_ran(monkeypatch, boot):
    fake_qemu(monkeypatch, "[0.9] Kernel panic - not syncing: VFS: Unable to mount root fs")
    assert libvirt.kvm_boots(boot) == (True, "KVM runs guests")
    fake_qemu(monkeypatch, "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n")
    ok, why = libvirt.kvm_boots(boot)
    assert not ok and "failed to set MSR" in why
    fake_qemu(monkeypatch, "", timeout=True)
    ok, why = libvirt.kvm_boots(boot)
    assert not ok and "printed nothing" in why


def test_emulation_is_said_and_the_answer_is_kept(monkeypatch, boot, tmp_path):
    monkeypatch.delenv("LAB_KVM", raising=False)
    monkeypatch.setattr(libvirt.os.path, "exists", lambda p: True)
    monkeypatch.setattr(libvirt, "kvm_boots", lambda d: (False, "KVM cannot run guests here (x)"))
    cache = tmp_path / "kvm"
    accel = libvirt.acceleration(boot, cache)
    assert accel.emulated and accel.env() == {"LAB_LIBVIRT_DRIVER": "qemu"}
    assert "emulated (QEMU TCG), slow" in accel.why
    monkeypatch.setattr(libvirt, "kvm_boots", lambda d: pytest.fail("asked again"))
    assert libvirt.acceleration(boot, cache) == accel


def test_a_box_is_registered_only_for_the_libvirt_provider(monkeypatch):
    listing = ("1,,box-name,vmlab/debian12\n1,,box-provider,libvirt\n1,,box-version,0\n"
               "1,,box-name,other/debian12\n1,,box-provider,virtualbox\n")
    monkeypatch.setattr(box.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, listing, ""))
    assert box.registered("vmlab/debian12", {})
    assert not box.registered("other/debian12", {})
    assert not box.registered("swarmlab/debian12", {})


def test_an_interrupted_build_is_cleaned_before_the_next(monkeypatch, tmp_path, run):
    left = tmp_path / "build-4242"
    (left / "mnt").mkdir(parents=True)
    (left / "disk.raw").write_bytes(b"")
    calls = []
    monkeypatch.setattr(box, "mounts_under", lambda p: [])
    monkeypatch.setattr(box.subprocess, "run", lambda argv, **k: calls.append(argv) or
                        subprocess.CompletedProcess(argv, 0, "/dev/loop7\n", ""))
    box.cleanup_leftovers(tmp_path, run)
    assert not left.exists()
    assert ["losetup", "-d", "/dev/loop7"] in calls


def test_a_scratch_dir_still_mounted_is_never_deleted(monkeypatch, tmp_path, run):
    scratch = tmp_path / "build-1"
    (scratch / "mnt" / "dev").mkdir(parents=True)
    monkeypatch.setattr(box, "release", lambda s, r: None)
    monkeypatch.setattr(box, "mounts_under", lambda p: [f"{scratch}/mnt/dev"])
    with pytest.raises(LabError) as err:
        box.remove_scratch(scratch, run)
    assert "still mounted" in str(err.value) and scratch.exists()


def test_box_inputs_change_with_the_mirror():
    assert box.inputs("http://a.example/debian") != box.inputs("http://b.example/debian")


@pytest.mark.parametrize("provider, kvm, expected", [
    ("docker", "no", 1.0), ("libvirt", "yes", 1.0), ("libvirt", "no", 5.0)])
def test_the_lab_waits_longer_only_for_emulated_vms(tmp_path, monkeypatch, provider, kvm, expected):
    from lab import commands, config as cfg
    path = tmp_path / "lab.yaml"
    path.write_text((Path(__file__).resolve().parents[2] / "lab.libvirt.yaml").read_text())
    own = tmp_path / ".lab" / "labs" / "vmlab"
    own.mkdir(parents=True)
    (own / "provider.json").write_text(f'{{"provider": "{provider}", "why": "test"}}')
    monkeypatch.setenv("LAB_KVM", kvm)
    assert commands.patience(cfg.load(path)) == expected
