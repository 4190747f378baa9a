"""lab.demo without a lab: payloads, statistics, input checks, the rendered
stacks, reports -> rows, verdicts and the table in docs/demos.md."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.demos import measure, runner, stacks, table

ROOT = Path(__file__).resolve().parents[2]


# -- measure -----------------------------------------------------------------

@pytest.mark.parametrize("size", [8, 9, 64, 255, 256, 1500, 60000])
def test_payload_has_the_size_asked_and_says_its_number(size):
    for seq in (0, 1, 199, 9999):
        data = measure.payload(seq, size)
        assert len(data) == size
        assert measure.seq_of(data, size) == seq


def test_a_damaged_or_cut_message_has_no_number():
    data = bytearray(measure.payload(5, 64))
    data[40] ^= 0xFF
    assert measure.seq_of(bytes(data), 64) is None
    assert measure.seq_of(measure.payload(5, 64)[:63], 64) is None
    # Two messages differ beyond their number: a swapped head is caught too.
    assert measure.payload(1, 64)[4:] != measure.payload(2, 64)[4:]


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert measure.percentile(values, 99) == 99
    assert measure.percentile(values, 100) == 100
    assert measure.percentile(values, 50) == 50
    assert measure.percentile([3.0], 99) == 3.0
    # Below 100 values, p99 is the slowest one: a rank is rounded up, never down.
    assert measure.percentile(list(range(1, 11)), 99) == 10
    assert measure.percentile([1, 2, 3], 50) == 2
    # One slow round trip in 200 is p99's business only from 100 values up.
    many = [1.0] * 199 + [50.0]
    assert measure.percentile(many, 99) == 1.0
    assert measure.percentile([1.0] * 98 + [50.0, 60.0], 99) == 50.0
    with pytest.raises(ValueError):
        measure.percentile([], 99)


def test_median_odd_and_even():
    assert measure.median([5, 1, 3]) == 3
    assert measure.median([4, 1, 3, 2]) == 2.5


def test_summarize_turns_nanoseconds_into_the_table_numbers():
    rtts = [1_000_000] * 99 + [9_000_000]
    s = measure.summarize(rtts, elapsed_s=0.5)
    assert s == {"round_trips": 100, "median_ms": 1.0, "p99_ms": 1.0, "msgs_per_s": 200.0, "elapsed_s": 0.5}
    assert measure.summarize([], 1.0)["median_ms"] is None


def test_received_report_counts_distinct_messages_in_range():
    r = measure.received_report({0, 1, 2, 2, 7, 50}, count=10, damaged=1)
    assert r["received"] == 4
    assert r["missing"] == 6
    assert r["first_missing"] == [3, 4, 5, 6, 8]
    assert r["damaged"] == 1


# -- input -------------------------------------------------------------------

def test_validate_names_every_demo_when_the_name_is_unknown():
    with pytest.raises(runner.BadInput) as exc:
        runner.validate("smoke-signals", 200, 64, "en")
    for name in stacks.NAMES:
        assert name in str(exc.value)


@pytest.mark.parametrize("messages,size,word", [(0, 64, "messages"), (10001, 64, "messages"),
                                                (200, 7, "size"), (200, 60001, "size")])
def test_validate_refuses_numbers_out_of_range(messages, size, word):
    with pytest.raises(runner.BadInput, match=word):
        runner.validate("tcp", messages, size, "en")


def test_whole_numbers_only():
    assert runner.whole_number(None, "size (S)", 64) == 64
    assert runner.whole_number("300", "messages (N)", 200) == 300
    with pytest.raises(runner.BadInput, match="messages \\(N\\) must be a whole number, got 'abc'"):
        runner.whole_number("abc", "messages (N)", 200)


def test_validate_all_and_one():
    assert runner.validate("all", 1, 8, "id") == list(stacks.NAMES)
    assert runner.validate("udp", 10000, 60000, "en") == ["udp"]
    assert stacks.NAMES == ("tcp", "udp", "unix", "filesystem", "database", "http", "mqtt")


def test_bad_input_through_invoke_changes_nothing(tmp_path):
    """Refused before the lab file is even read: no run record appears."""
    runs = ROOT / ".lab" / "runs"
    before = sorted(runs.glob("*")) if runs.exists() else []
    for args in (["nosuch"], ["tcp", "--messages", "0"], ["http", "--size", "99999"], ["udp", "-m", "abc"]):
        r = subprocess.run([sys.executable, "-m", "invoke", "lab.demo", *args], cwd=ROOT,
                           capture_output=True, text=True, env={"LAB_CONFIG": str(tmp_path / "none.yaml"),
                                                                "PATH": "/usr/bin:/bin"})
        assert r.returncode == 2, r.stdout + r.stderr
        assert "lab.demo:" in r.stdout
    after = sorted(runs.glob("*")) if runs.exists() else []
    assert after == before


def test_list_in_both_languages():
    en, id_ = runner.listing("en"), runner.listing("id")
    assert len(en) == len(id_) == 7
    assert en != id_
    assert [l.split()[0] for l in en] == list(stacks.NAMES)


# -- texts -------------------------------------------------------------------

def test_every_text_exists_in_both_languages():
    data = yaml.safe_load(table.TEXTS.read_text())
    def leaves(node, path=""):
        if isinstance(node, dict) and set(node) == {"en", "id"}:
            yield path, node
        elif isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, f"{path}.{k}" if path else k)
    found = list(leaves(data))
    assert len(found) > 20
    for path, node in found:
        assert node["en"].strip() and node["id"].strip() and node["en"] != node["id"], path
    for name in stacks.NAMES:
        assert data["demos"][name]["title"] and data["demos"][name]["shows"]


# -- stacks ------------------------------------------------------------------

def settings(nfs=False, workers=("worker1", "worker2", "worker3")):
    return stacks.Settings(image="10.0.0.10:4000/lab-demo:latest", messages=20, size=64, run_id="abcd",
                           workers=workers, manager="manager", manager_address="10.0.0.10",
                           export_path="/etc/db-data", nfs=nfs, deadline=91)


def nodes_of(data):
    out = {}
    for name, svc in data["services"].items():
        (constraint,) = svc["deploy"]["placement"]["constraints"]
        out[name] = re.fullmatch(r"node\.hostname == (\S+)", constraint).group(1)
    return out


@pytest.mark.parametrize("name", stacks.NAMES)
def test_every_stack_is_its_own_dnsrr_overlay_without_ports(name):
    demo = stacks.DEMOS[name]
    data = demo.render(settings())
    text = stacks.to_yaml(data, name)
    assert yaml.safe_load(text) == data
    assert data["networks"] and all(n["driver"] == "overlay" for n in data["networks"].values())
    for svc_name, svc in data["services"].items():
        assert svc["deploy"]["endpoint_mode"] == "dnsrr", svc_name
        assert svc["deploy"]["restart_policy"] == {"condition": "none"}
        assert "ports" not in svc
        assert svc["image"].endswith("/lab-demo:latest")
        assert set(svc["networks"]) <= set(data["networks"])
        assert "musicapp" not in yaml.safe_dump(svc)
    assert set(demo.reporters) <= set(data["services"])


@pytest.mark.parametrize("name", ["tcp", "udp", "http", "database"])
def test_crossing_demos_put_producer_and_consumer_on_two_workers(name):
    where = nodes_of(stacks.DEMOS[name].render(settings()))
    assert where["producer"] != where["consumer"]
    assert "manager" not in (where["producer"], where["consumer"])


def test_unix_is_one_node_with_a_socket_volume():
    data = stacks.render_unix(settings())
    where = nodes_of(data)
    assert where["producer"] == where["consumer"]
    assert data["services"]["producer"]["volumes"] == data["services"]["consumer"]["volumes"] == ["sock:/sock"]


def test_database_writer_and_reader_share_only_the_database():
    data = stacks.render_database(settings())
    svc = data["services"]
    assert not set(svc["producer"]["networks"]) & set(svc["consumer"]["networks"])
    assert set(svc["db"]["networks"]) == set(svc["producer"]["networks"]) | set(svc["consumer"]["networks"])


def test_mqtt_publisher_and_subscribers_on_three_nodes():
    where = nodes_of(stacks.render_mqtt(settings()))
    assert len({where["publisher"], where["subscriber-a"], where["subscriber-b"]}) == 3
    assert stacks.render_mqtt(settings())["services"]["broker"]["entrypoint"][0] == "mosquitto"


def test_filesystem_crosses_through_the_export_stand_in_or_nfs():
    stand_in = stacks.render_filesystem(settings(nfs=False))
    assert stand_in["volumes"]["shared"]["driver_opts"] == {
        "type": "none", "o": "bind", "device": "/etc/db-data/" + stacks.EXPORT_SUBDIR}
    nfs = stacks.render_filesystem(settings(nfs=True))["volumes"]["shared"]["driver_opts"]
    assert nfs["type"] == "nfs" and nfs["device"] == ":/etc/db-data/" + stacks.EXPORT_SUBDIR
    assert "addr=10.0.0.10" in nfs["o"]
    where = nodes_of(stand_in)
    assert where["consumer-local"] == where["producer"] != where["consumer-shared"]


def test_two_workers_are_enough():
    where = nodes_of(stacks.render_mqtt(settings(workers=("w1", "w2"))))
    assert where["publisher"] != where["subscriber-a"]


# -- reports -> rows -> verdicts -----------------------------------------------

def producer(median, p99=None, rate=100.0, **kw):
    return {"role": "producer", "sent": 20, "echoed": 20, "median_ms": median, "p99_ms": p99 or median * 2,
            "msgs_per_s": rate, **kw}


def consumer(received, count=20, **kw):
    return {"role": "consumer", **measure.received_report(set(range(received)), count), **kw}


def all_rows(tcp=1.0, unix=0.2, udp=0.8, http=3.0, db=5.0, mqtt=2.0, fs_local=0.5, fs_remote=0.9,
             qos0=12, udp_received=19):
    s = settings()
    rows = []
    rows += stacks.rows_tcp({"consumer": consumer(20), "producer": producer(tcp)}, s)
    rows += stacks.rows_udp({"consumer": consumer(udp_received), "producer": producer(udp, echoed=udp_received)}, s)
    rows += stacks.rows_unix({"consumer": consumer(20), "producer": producer(unix)}, s)
    rows += stacks.rows_filesystem({"consumer-local": consumer(20), "consumer-shared": consumer(20),
                                    "producer": {"phases": {"one node": producer(fs_local),
                                                            "two nodes": producer(fs_remote)}}}, s)
    rows += stacks.rows_database({"consumer": consumer(20), "producer": producer(db)}, s)
    rows += stacks.rows_http({"consumer": consumer(20, request_header_bytes=120),
                              "producer": producer(http, response_header_bytes=90)}, s)
    sub = {"fanout": measure.received_report(set(range(20)), 20), "qos1": measure.received_report(set(range(20)), 20),
           "qos0": measure.received_report(set(range(qos0)), 20), "cut_after": 5}
    rows += stacks.rows_mqtt({"subscriber-a": dict(sub, retained={"received": True, "payload": "r1"}),
                              "subscriber-b": sub,
                              "publisher": {"fanout": producer(mqtt), "retained": "r1"}}, s)
    return table.judge(rows)


def test_rows_take_delivery_from_the_consumer_and_time_from_the_producer():
    s = settings()
    (row,) = stacks.rows_tcp({"consumer": consumer(17), "producer": producer(1.5, echoed=20)}, s)
    assert (row.delivered, row.messages, row.median_ms) == (17, 20, 1.5)
    assert runner.undelivered([row]) == [row]
    with pytest.raises(runner.LabError, match="17/20 by the consumer's own report"):
        runner.check_delivery("tcp", [row])


def test_udp_loss_is_allowed_and_counted():
    rows = all_rows(udp_received=15)
    udp = table.by_mechanism(rows, "udp")
    assert udp.delivered == 15 and not udp.must_deliver
    assert udp.extra["lost"] == 5
    assert runner.undelivered(rows) == []


def test_verdicts_follow_the_numbers():
    rows = all_rows()
    v = {r.mechanism: r.verdict for r in rows}
    assert v["tcp"] == "supports"
    assert v["unix"] == "supports"          # 0.2 < 1.0
    assert v["http"] == "supports"          # 3.0 > 1.0: overhead
    assert v["database"] == "contradicts"   # 5.0 > 1.0: no time saved
    assert v["filesystem (two nodes)"] == "contradicts"  # it did work across nodes
    assert v["mqtt fan-out (QoS 1)"] == "supports"       # 2.0 < http's 3.0
    assert v["mqtt QoS 0, cut mid-run"] == "supports"    # 12/20
    assert v["mqtt QoS 1, cut mid-run"] == "supports"
    assert v["mqtt retained, late subscriber"] == "supports"
    turned = {r.mechanism: r.verdict for r in all_rows(unix=2.0, http=0.5, qos0=20)}
    assert turned["unix"] == "contradicts"
    assert turned["http"] == "contradicts"
    assert turned["mqtt fan-out (QoS 1)"] == "contradicts"
    assert turned["mqtt QoS 0, cut mid-run"] == "not_shown"


def test_medians_within_ten_percent_show_nothing():
    v = {r.mechanism: r.verdict for r in all_rows(tcp=1.0, udp=1.05, http=1.08, db=0.95)}
    assert v["udp"] == v["http"] == v["database"] == "not_shown"
    assert {r.mechanism: r.verdict for r in all_rows(tcp=1.0, udp=0.85)}["udp"] == "supports"


def test_a_single_demo_without_tcp_says_how_to_compare():
    (row,) = table.judge(stacks.rows_unix({"consumer": consumer(20), "producer": producer(0.2)}, settings()))
    assert row.verdict is None
    assert "lab.demo all" in table.verdict_text(row, "en")
    assert "lab.demo all" in table.verdict_text(row, "id")


def test_retained_row_needs_the_published_payload():
    s = settings()
    sub = {"fanout": measure.received_report(set(range(20)), 20), "qos1": measure.received_report(set(range(20)), 20),
           "qos0": measure.received_report(set(), 20)}
    rows = stacks.rows_mqtt({"subscriber-a": dict(sub, retained={"received": True, "payload": "old"}),
                             "subscriber-b": sub, "publisher": {"fanout": producer(1.0), "retained": "new"}}, s)
    assert rows[-1].delivered == 0
    assert runner.undelivered(rows) == [rows[-1]]


def test_markdown_table_has_every_row_and_column():
    rows = all_rows()
    md = table.markdown(rows)
    lines = md.splitlines()
    assert len(lines) == 2 + len(rows) == 2 + 11
    assert all(line.count("|") == 9 for line in lines)
    assert "| tcp | worker1 -> worker2 | 20 | 20/20 | 1.000 | 2.000 | 100 | supports: TCP" in md
    assert "20/20 (a 20, b 20)" in md
    assert "mendukung" in table.markdown(rows, "id")


def test_docs_section_is_replaced_not_appended(tmp_path):
    doc = tmp_path / "demos.md"
    doc.write_text("# Demos\n\nwritten by hand\n")
    rows = all_rows()
    first = table.section(rows, {"tcp": 12.5, "udp": 10.0}, "2026-12-01 13:00 UTC", "2 cores", 20, 64, ["a note"])
    table.write_section(doc, first)
    table.write_section(doc, first.replace("2026-12-01 13:00", "2026-12-02 14:00"))
    text = doc.read_text()
    assert text.startswith("# Demos\n\nwritten by hand\n")
    assert text.count(table.BEGIN) == 1 and text.count(table.END) == 1
    assert "2026-12-02 14:00 UTC" in text and "2026-12-01" not in text
    assert "| all | 22.5 |" in text
    assert "on 2 cores" in text


def test_image_programs_import_the_same_measure_module():
    demo = (ROOT / "lab" / "demos" / "image" / "demo.py").read_text()
    assert "from measure import" in demo
    roles = re.findall(r'"([a-z]+-[a-z]+)": [a-z_]+,', demo)
    used = {svc["command"][0] for name in stacks.NAMES
            for svc in stacks.DEMOS[name].render(settings())["services"].values() if "command" in svc}
    assert used and used <= set(roles)


YAML_11_BOOLEANS = {"y", "n", "yes", "no", "on", "off", "true", "false"}


@pytest.mark.parametrize("name", stacks.NAMES)
def test_environment_keys_are_strings_for_dockers_yaml_too(name):
    """Docker's YAML reads N, Y, on, off... as booleans ("Non-string key in
    services.consumer.environment"), PyYAML does not: check the names."""
    for svc in stacks.DEMOS[name].render(settings())["services"].values():
        for key in svc["environment"]:
            assert key.lower() not in YAML_11_BOOLEANS, key


def test_a_lab_that_is_not_up_says_lab_up(tmp_path):
    """A lab file whose nodes were never brought up (its own folder, so no
    kept ssh-config): the demo stops before touching anything."""
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text((ROOT / "lab.yaml").read_text().replace("name: swarmlab", "name: neverup"))
    r = subprocess.run([sys.executable, "-m", "invoke", "lab.demo", "tcp"], cwd=ROOT, capture_output=True,
                       text=True, env={"LAB_CONFIG": str(lab_file), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "the lab is not up" in r.stdout
    assert "invoke lab.up" in r.stdout


def test_every_note_reads_in_both_languages_with_its_numbers():
    rows = all_rows(udp_received=15)
    noted = [r for r in rows if r.note]
    assert {r.note for r in noted} == {"udp_lost", "stand_in", "http_headers", "mqtt_path", "mqtt_cut"}
    for r in noted:
        en, id_ = table.note_text(r, "en"), table.note_text(r, "id")
        assert en != id_ and "{" not in en + id_
    udp = table.by_mechanism(rows, "udp")
    assert table.note_text(udp, "en").startswith("5 lost")
    assert "120 bytes in the request, 90 in the response, for 64 bytes" in \
        table.note_text(table.by_mechanism(rows, "http"), "en")
