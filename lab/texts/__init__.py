"""Texts a trainee reads, in the course's two languages (English, Indonesian).

One YAML file per language beside this module: each step's title, text and
hints, the messages a check prints, and the few words of the practice
commands. Code names a text by its key; a missing key or language is a bug
the unit tests catch, not something a trainee should meet.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("en", "id")
FOLDER = Path(__file__).resolve().parent


class UnknownLanguage(ValueError):
    pass


@lru_cache(maxsize=None)
def load(lang: str) -> dict:
    if lang not in LANGUAGES:
        raise UnknownLanguage(f"--lang {lang!r}: the texts exist in {', '.join(LANGUAGES)}")
    return yaml.safe_load((FOLDER / f"practice.{lang}.yaml").read_text(encoding="utf-8"))


def message(key: str, lang: str = "en", **params) -> str:
    return load(lang)["messages"][key].format(**params).strip()


def word(key: str, lang: str = "en", **params) -> str:
    return load(lang)["words"][key].format(**params).strip()


def step(key: str, lang: str = "en") -> dict:
    return load(lang)["steps"][key]
