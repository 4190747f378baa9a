"""The whole lab on real VMs (vagrant-libvirt), checked on the VMs themselves."""
import json
import subprocess
import urllib.request

from lab import box
from lab.checks import smoke
from .conftest import invoke, last_run, on


def test_box_build_again_is_cached_in_seconds(config, lab_up):
    # After lab.up, which builds the box when its inputs changed.
    result = invoke("lab.box.build", timeout=600)
    assert f"cached ({box.box_name(config.name)})" in result.stdout


def test_lab_up_runs_every_step_without_a_stand_in(lab_up):
    names = [s["name"] for s in lab_up["steps"]]
    for wanted in ("nodes: vagrant up", "probe", "docker", "daemon.json", "swarm", "registry", "nfs",
                   "stack", "smoke"):
        assert any(n.startswith(wanted) for n in names), (wanted, names)
    assert all(s["outcome"] != "failed" for s in lab_up["steps"])
    assert not [s for s in lab_up["steps"] if s["stand_in"]]
    assert "stand-in" not in lab_up["output"]


def test_the_probe_finds_ipvs_and_nfs_in_the_vms(lab_up):
    caps = json.loads((lab_up["dir"] / "capabilities.json").read_text())
    assert caps["ipvs"] and caps["nfs_client"] and caps["nfs_server"], caps


def test_the_stack_deployed_is_the_tutorials_file_unchanged(lab_up, config):
    rendered = (lab_up["dir"] / "docker-compose.rendered.yaml").read_text()
    assert "# adaptation" not in rendered
    assert "dnsrr" not in rendered and "mode: host" not in rendered
    assert f"{config.registry}/backend" in rendered


def test_every_vm_answers_ssh_runs_systemd_and_has_its_lab_address(cluster, config):
    ids = set()
    for node in config.nodes:
        assert on(cluster, node.name, "hostname") == node.name
        state = on(cluster, node.name, "systemctl is-system-running", ok=False)
        assert state == "running", on(cluster, node.name, "systemctl --failed --no-legend", ok=False)
        assert f"inet {node.address}/{config.network.prefixlen}" in on(cluster, node.name, "ip -4 addr show eth1")
        ids.add(on(cluster, node.name, "cat /etc/machine-id"))
        for other in config.nodes:
            if other is not node:
                on(cluster, node.name, f"ping -c1 -W3 {other.address}")
    assert len(ids) == len(config.nodes)


def test_swarm_lists_every_node_ready_on_its_lab_address(cluster, config):
    rows = [json.loads(l) for l in on(cluster, config.manager.name,
                                      "docker node ls --format '{{json .}}'").splitlines()]
    assert sorted(r["Hostname"] for r in rows) == sorted(n.name for n in config.nodes)
    assert all(r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows)
    for node in config.nodes:
        addr = on(cluster, config.manager.name, f"docker node inspect {node.name} --format '{{{{.Status.Addr}}}}'")
        assert addr == node.address


def test_nfs_written_on_one_worker_is_read_on_another(cluster, config):
    m, first, last = config.manager, config.workers[0].name, config.workers[-1].name
    assert config.export_path in on(cluster, m.name, "exportfs -v")
    mount = f"mkdir -p /mnt/t && mount -t nfs {m.address}:{config.export_path} /mnt/t"
    on(cluster, first, f"{mount} && echo from-{first} > /mnt/t/.libvirt-test && umount /mnt/t")
    try:
        assert on(cluster, last, f"{mount} && cat /mnt/t/.libvirt-test") == f"from-{first}"
        assert "nfs" in on(cluster, last, "stat -f -c %T /mnt/t")
    finally:
        on(cluster, last, "rm -f /mnt/t/.libvirt-test; umount /mnt/t", ok=False)


def test_the_database_keeps_its_data_on_the_nfs_export(cluster, config):
    """The database task's volume is a real NFS mount of the manager's export."""
    svc = f"{config.stack_name}_db"
    node = on(cluster, config.manager.name,
              f"docker service ps {svc} --filter desired-state=running --format '{{{{.Node}}}}'").split()[0]
    mounts = [l for l in on(cluster, node, "grep ' nfs' /proc/mounts").splitlines()
              if f":{config.export_path} " in l]
    assert mounts and f"addr={config.manager.address}" in mounts[0], mounts
    assert "PG_VERSION" in on(cluster, config.manager.name, f"ls {config.export_path}")


def test_services_have_virtual_ips_and_ports_go_through_the_routing_mesh(cluster, config):
    m = config.manager.name
    vips = json.loads(on(cluster, m, f"docker service inspect {config.stack_name}_backend "
                                     "--format '{{json .Endpoint.VirtualIPs}}'"))
    assert vips
    ports = json.loads(on(cluster, m, f"docker service inspect {config.stack_name}_nginx-frontend "
                                      "--format '{{json .Endpoint.Ports}}'"))
    assert any(p["PublishMode"] == "ingress" and p["PublishedPort"] == 80 for p in ports), ports
    # Through the mesh from every node, whichever runs the task.
    for node in config.nodes:
        code = on(cluster, node.name, "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/login")
        assert code == "200", (node.name, code)


def test_login_page_and_api_answer_through_127_0_0_1(lab_up, config):
    with urllib.request.urlopen(f"{config.web_url}login", timeout=30) as r:
        assert r.status == 200 and smoke.shows_login(r.read().decode(), config.app_name)
    with urllib.request.urlopen(f"{config.api_url}health", timeout=30) as r:
        assert r.status == 200


def test_status_shows_libvirt_every_node_ready_and_no_stand_in(lab_up, config):
    status = json.loads(invoke("lab.status", "--json").stdout)
    assert status["provider"] == "libvirt" and status["stand_ins"] == [], status
    assert all(n["state"] == "running" and n["swarm_status"] == "Ready" for n in status["nodes"]), status["nodes"]
    assert all(s["replicas_running"] == s["replicas_wanted"] for s in status["services"]), status["services"]


def test_lab_check_is_green_on_the_vms(lab_up):
    """Swarm, replicas, registry, pages, API flow, chromium, and the data-move
    drill (the db task moves to another worker and keeps its data over NFS)."""
    result = invoke("lab.check", check=False, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_a_second_lab_up_changes_nothing(lab_up):
    invoke("lab.up")
    _, steps = last_run()
    changed = [s["name"] for s in steps if s["outcome"] != "ok"]
    assert not changed, changed
    # The report of that run: every step, none with a stand-in.
    report = invoke("lab.report").stdout
    assert "stack" in report and "smoke" in report, report
    for word in ("shared directory", "mesh", "dnsrr"):
        assert word not in report, (word, report)


def test_zz_destroy_leaves_no_domain_network_or_volume(config, lab_up):
    invoke("lab.destroy")
    virsh = lambda *a: subprocess.run(["virsh", "-c", "qemu:///system", *a], capture_output=True, text=True).stdout
    assert not [d for d in virsh("list", "--all", "--name").split() if d.startswith(f"{config.name}-")]
    assert not [n for n in virsh("net-list", "--all", "--name").split() if n.startswith(f"{config.name}-")]
    volumes = virsh("vol-list", "default")
    assert not [l for l in volumes.splitlines() if l.strip().startswith(f"{config.name}-")
                and "vagrant_box_image" not in l]
