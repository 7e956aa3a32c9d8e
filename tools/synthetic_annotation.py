"""Synthetic `sat_dsat_annotation` files of any size, for the memory test and the benchmark.

Conversations are 5 utterances (user, agent, user DSAT, agent revision, user SAT), each distinct
(the conversation number is in the text) so none is a duplicate. Writing reuses pre-formatted
templates, so a 200 MB file takes a couple of seconds.

A developer tool, not part of the installed package: tests/data/test_streaming_memory.py and
bench/bench_data.py put tools/ on sys.path (relative to their own file) and import it from there.
"""
from __future__ import annotations

import json
from pathlib import Path

_TURNS = (
    ("User", "Question {n}: how do I sort a list of dictionaries by a key in Python? {pad}", False, False),
    ("Agent", "Answer {n}: you can write your own bubble sort for that. {pad}", False, False),
    ("User", "That is needlessly complicated, number {n}. Use the standard library.", False, True),
    ("Agent", "Revision {n}: use sorted(items, key=lambda d: d['name']). {pad}", False, False),
    ("User", "Thanks, conversation {n} solved.", True, False),
)


def _templates(pad_chars: int) -> list[str]:
    pad = ("lorem ipsum " * (pad_chars // 12 + 1))[:pad_chars]
    out = []
    for i, (role, content, sat, dsat) in enumerate(_TURNS):
        row = {"UtterranceId": i, "TurnId": i // 2, "Role": role, "Content": "@@C@@", "State": "X",
               "Satisfaction": sat, "Disatisfaction": dsat, "Preceeding": "YES"}
        out.append(json.dumps(row).replace('"@@C@@"', json.dumps(content.replace("{pad}", pad)).replace("{n}", "%d")))
    return out


def write_annotation_file(path: Path, utterances: int | None = None, target_bytes: int | None = None,
                          pad_chars: int = 40) -> int:
    """Write a JSON array of utterance rows; stops at ``utterances`` rows or ``target_bytes``
    (whichever is given), rounded up to whole conversations. Returns the number of rows."""
    if (utterances is None) == (target_bytes is None):
        raise ValueError("give exactly one of utterances or target_bytes")
    templates = _templates(pad_chars)
    rows = written = 0
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        while (utterances is not None and rows < utterances) or (target_bytes is not None and written < target_bytes):
            block = ",\n".join(t % n for t in templates)
            block = block if n == 0 else ",\n" + block
            fh.write(block)
            written += len(block)
            rows += len(templates)
            n += 1
        fh.write("\n]\n")
    return rows
