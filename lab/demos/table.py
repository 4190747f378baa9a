"""Rows of measured results, the verdict on each claim, and the table that
`invoke lab.demo all` prints and writes into docs/demos.md.

Verdicts are decided by the numbers only: a claim that compares with TCP
needs the tcp row of the same run, else it says how to get one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

TEXTS = Path(__file__).with_name("texts.yaml")
LANGUAGES = ("en", "id")
BEGIN = "<!-- lab.demo all: the table below is rewritten by `invoke lab.demo all` -->"
END = "<!-- lab.demo all: end -->"


@dataclass
class Row:
    demo: str
    mechanism: str
    nodes: str
    messages: int
    delivered: int
    claim: str
    median_ms: float | None = None
    p99_ms: float | None = None
    msgs_per_s: float | None = None
    # A row whose every message must arrive (all but udp and MQTT's QoS 0).
    must_deliver: bool = True
    # Shown under the delivered count (two subscribers: "a 200, b 200").
    delivered_text: str | None = None
    # A key of texts.yaml's words, filled in from extra.
    note: str | None = None
    verdict: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.delivered == self.messages

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def texts() -> dict:
    return yaml.safe_load(TEXTS.read_text())


def say(path: str, lang: str) -> str:
    """texts.yaml's entry at a dotted path, in `lang` (English if missing)."""
    node = texts()
    for part in path.split("."):
        node = node[part]
    return node.get(lang) or node["en"]


def by_mechanism(rows: list[Row], mechanism: str) -> Row | None:
    return next((r for r in rows if r.mechanism == mechanism), None)


# Medians closer than this (relative) are the same speed on a busy class
# machine: such a comparison neither supports nor contradicts a claim.
SAME_SPEED = 0.10


def compare(row: Row, than: Row | None) -> str | None:
    """faster / slower / same (median round trip), None without both."""
    if than is None or row.median_ms is None or than.median_ms is None:
        return None
    a, b = row.median_ms, than.median_ms
    if abs(a - b) <= SAME_SPEED * max(a, b):
        return "same"
    return "faster" if a < b else "slower"


def by_speed(speed: str | None, claim_is_faster: bool) -> str | None:
    if speed is None:
        return None
    if speed == "same":
        return "not_shown"
    return "supports" if (speed == "faster") == claim_is_faster else "contradicts"


def decide(row: Row, rows: list[Row]) -> str | None:
    """supports / contradicts / not_shown, or None when the claim needs a
    row this run does not have (tcp, http)."""
    tcp = by_mechanism(rows, "tcp")
    claim = row.claim
    if claim == "tcp":
        return "supports" if row.complete else "contradicts"
    if claim in ("udp", "unix", "filesystem_local", "database"):
        # Each claims to be quicker than TCP (the database: "saves time").
        return by_speed(compare(row, tcp), claim_is_faster=True)
    if claim == "http":
        return by_speed(compare(row, tcp), claim_is_faster=False)
    if claim == "filesystem_remote":
        return "contradicts" if row.complete else "supports"
    if claim == "mqtt_fanout":
        if not row.complete:
            return "contradicts"
        return by_speed(compare(row, by_mechanism(rows, "http")), claim_is_faster=True)
    if claim == "mqtt_qos0":
        return "supports" if row.delivered < row.messages else "not_shown"
    if claim in ("mqtt_qos1", "mqtt_retained"):
        return "supports" if row.complete else "contradicts"
    raise ValueError(f"no rule for claim {claim!r}")


def judge(rows: list[Row]) -> list[Row]:
    for row in rows:
        row.verdict = decide(row, rows)
    return rows


def note_text(row: Row, lang: str) -> str | None:
    return say(f"words.{row.note}", lang).format(**row.extra) if row.note else None


def verdict_text(row: Row, lang: str) -> str:
    if row.verdict is None:
        return say("words.compare_later", lang)
    return say(f"words.{row.verdict}", lang)


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def delivered(row: Row) -> str:
    text = f"{row.delivered}/{row.messages}"
    return f"{text} ({row.delivered_text})" if row.delivered_text else text


def cells(row: Row, lang: str) -> list[str]:
    return [row.mechanism, row.nodes, str(row.messages), delivered(row), number(row.median_ms, 3),
            number(row.p99_ms, 3), number(row.msgs_per_s, 0),
            f"{verdict_text(row, lang)}: {say(f'claims.{row.claim}', lang)}"]


HEADERS = {
    "en": ["mechanism", "nodes", "messages", "delivered", "median ms", "p99 ms", "msgs/s", "claim of the module"],
    "id": ["mekanisme", "node", "pesan", "terkirim", "median ms", "p99 ms", "pesan/s", "klaim modul"],
}


def markdown(rows: list[Row], lang: str = "en") -> str:
    head = HEADERS[lang]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r, lang)) + " |" for r in rows]
    return "\n".join(lines)


def section(rows: list[Row], walls: dict[str, float], when: str, machine: str, messages: int, size: int,
            notes: list[str]) -> str:
    """The generated part of docs/demos.md: both languages, wall times."""
    lines = [BEGIN, "", f"Measured {when} on {machine} by `invoke lab.demo all` "
             f"(N={messages} messages of S={size} bytes; latency is the round trip, the consumer "
             "sends each message back).", "", markdown(rows, "en"), ""]
    lines += [f"- {n}" for n in notes]
    lines += ["", "Wall time of each demo (deploy, image pull, run, removal):", "",
              "| demo | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in walls.items()]
    lines += [f"| all | {sum(walls.values()):.1f} |", "", "Bahasa Indonesia:", "", markdown(rows, "id"), "", END]
    return "\n".join(lines)


def write_section(doc: Path, text: str) -> None:
    """Replace the generated part of the document, keep what people wrote."""
    old = doc.read_text() if doc.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = old.rstrip() + ("\n\n" if old.strip() else "") + text + "\n"
    doc.write_text(new)
