"""Write the sample input files (one per format) from the hand-written items in bank.py.

    python tools/samples/make_samples.py [OUT_DIR]   # default: the package's nemo_drift/data/samples/

A developer tool, not part of the installed package: the package ships only the files this writes.
Each sample holds good conversations plus deliberate bad rows (malformed, missing field, empty
reply, label on the first turn, invalid UTF-8, duplicate) so readers and accounting are exercised.
The main sample, wildfeedback_sat_dsat.json, yields 38 DSAT, 40 SAT and 6 seed pairs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bank import FOLLOW_UPS, ITEMS, THANKS, WARMUPS, Item  # the sibling bank.py (script dir is on sys.path)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "nemo_drift" / "data" / "samples"
"""Where the package ships the samples (what `sample:<name>` sources read)."""
BAD_BYTES = "@@INVALID_UTF8@@"
"""Placeholder replaced by the latin-1 bytes of 'café' (invalid UTF-8) after encoding."""

Turn = tuple[str, str, str | None]  # (role "u"/"a", content, label "sat"/"dsat"/None)


def dsat_turns(item: Item, warmup: int | None = None, follow_up: bool = False) -> list[Turn]:
    turns: list[Turn] = []
    if warmup is not None:
        turns += [("u", WARMUPS[warmup][0], None), ("a", WARMUPS[warmup][1], None)]
    turns += [("u", item.prompt, None), ("a", item.bad, None), ("u", item.feedback, "dsat")]
    if follow_up:
        turns += [("a", item.good, None), ("u", FOLLOW_UPS[len(item.prompt) % len(FOLLOW_UPS)], None)]
    return turns


def seed_turns(item: Item, k: int) -> list[Turn]:
    return [("u", item.prompt, None), ("a", item.bad, None), ("u", item.feedback, "dsat"),
            ("a", item.good, None), ("u", THANKS[k % len(THANKS)], "sat")]


def sat_turns(item: Item, k: int) -> list[Turn]:
    return [("u", item.prompt, None), ("a", item.good, None), ("u", THANKS[k % len(THANKS)], "sat")]


def annotation_rows(turns: list[Turn]) -> list[dict]:
    """WildFeedback utterance rows for one conversation."""
    rows = []
    for i, (who, content, label) in enumerate(turns):
        state = {"dsat": "FEEDBACK", "sat": "GRATITUDE", None: "CONTINUATION" if i else "NEW_TOPIC"}[label]
        rows.append({"UtterranceId": i, "TurnId": i // 2, "Role": "User" if who == "u" else "Agent",
                     "Content": content, "State": state if who == "u" else "RESPONSE",
                     "Satisfaction": label == "sat", "Disatisfaction": label == "dsat",
                     "Preceeding": "YES" if i else "NO"})
    return rows


def chat_messages(turns: list[Turn], system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    for who, content, label in turns:
        msg = {"role": "user" if who == "u" else "assistant", "content": content}
        if label:
            msg["feedback"] = label
        msgs.append(msg)
    return msgs


def write_bytes(path: Path, text: str) -> None:
    data = text.encode("utf-8").replace(BAD_BYTES.encode(), "caf\xe9".encode("latin-1"))
    path.write_bytes(data)


def main_sample() -> list[dict]:
    """sat_dsat_annotation: 28 DSAT + 6 seed + 2 two-DSAT + 34 SAT + 3 unlabelled + 7 bad conversations."""
    convs: list[list[dict]] = []
    for k, item in enumerate(ITEMS[:28]):
        convs.append(annotation_rows(dsat_turns(item, warmup=k % 4 if k % 3 == 0 else None, follow_up=k % 5 == 1)))
    for k, item in enumerate(ITEMS[28:34]):
        convs.append(annotation_rows(seed_turns(item, k)))
    for a, b in ((ITEMS[34], ITEMS[35]), (ITEMS[36], ITEMS[37])):
        turns = dsat_turns(a) + [("a", a.good, None)] + dsat_turns(b)
        convs.append(annotation_rows(turns))
    for k, item in enumerate(ITEMS[38:41] + ITEMS[:1]):
        convs.append(annotation_rows(sat_turns(item, k + 2)))
    for k, item in enumerate(ITEMS[1:31]):  # more SAT replies, so the held-out split has enough of them
        warmup = [("u", WARMUPS[k % 4][0], None), ("a", WARMUPS[k % 4][1], None)] if k % 2 == 0 else []
        convs.append(annotation_rows(warmup + sat_turns(item, k)))
    for k in range(3):
        convs.append(annotation_rows([("u", WARMUPS[k][0], None), ("a", WARMUPS[k][1], None),
                                      ("u", ITEMS[k + 5].prompt, None), ("a", ITEMS[k + 5].good, None)]))
    # Deliberate bad conversations, one per reason.
    missing = annotation_rows(dsat_turns(ITEMS[9], warmup=1))
    del missing[3]["Content"]
    empty = annotation_rows(dsat_turns(ITEMS[10]))
    empty[1]["Content"] = "   "
    first = annotation_rows([("u", "This answer is useless.", "dsat"), ("a", "Sorry, what answer?", None)])
    bad_bytes = annotation_rows(dsat_turns(Item(f"Where can I get a good {BAD_BYTES} au lait in Paris?",
                                                "Try any supermarket.", "I meant a cafe, not a supermarket.", "")))
    duplicate = [dict(row) for row in convs[2]]
    conflicting = annotation_rows(dsat_turns(ITEMS[11]))
    conflicting[2]["Satisfaction"] = True
    gap = annotation_rows(dsat_turns(ITEMS[12], warmup=2))
    del gap[2]
    convs += [missing, empty, first, bad_bytes, duplicate, conflicting, gap]
    return [row for conv in convs for row in conv]


def chat_logs() -> list[str]:
    lines = []
    good = [
        ("c-001", chat_messages(dsat_turns(ITEMS[0], warmup=0))),  # DSAT on turn 3 of 5
        ("c-002", chat_messages(seed_turns(ITEMS[1], 0))),
        ("c-003", chat_messages(dsat_turns(ITEMS[2]) + [("a", ITEMS[2].good, None)] + dsat_turns(ITEMS[3]))),
        ("c-004", chat_messages(sat_turns(ITEMS[4], 1))),
        ("c-005", chat_messages(sat_turns(ITEMS[5], 2), system="You are a concise assistant.")),
        ("c-006", chat_messages(dsat_turns(ITEMS[6]), system="You are a helpful writing assistant.")),
        ("c-007", chat_messages(dsat_turns(ITEMS[7], follow_up=True))),
        ("c-008", chat_messages(dsat_turns(ITEMS[8]))),
        ("c-009", chat_messages([("u", ITEMS[9].prompt, None), ("a", ITEMS[9].good, None)])),
    ]
    lines += [json.dumps({"id": cid, "messages": msgs}, ensure_ascii=False) for cid, msgs in good]
    first = chat_messages([("u", "Your last answer was wrong.", "dsat"), ("a", "Which answer do you mean?", None)])
    on_assistant = chat_messages(dsat_turns(ITEMS[10]))
    on_assistant[1]["feedback"] = "sat"
    empty = chat_messages(dsat_turns(ITEMS[11]))
    empty[1]["content"] = ""
    lines += [
        json.dumps({"id": "c-010", "messages": first}),
        json.dumps({"id": "c-011", "messages": on_assistant}),
        json.dumps({"id": "c-012", "messages": empty}),
        json.dumps({"id": "c-002", "messages": chat_messages(dsat_turns(ITEMS[12]))}),  # duplicate id
        '{"id": "c-013", "messages": [{"role": "user", "content": "unterminated',
        json.dumps({"id": "c-014", "messages": chat_messages(dsat_turns(Item(f"Best {BAD_BYTES} near me?", "No.",
                                                                             "Not helpful.", "")))}),
        json.dumps({"id": "c-015"}),
    ]
    return lines


def drift_jsonl() -> list[str]:
    lines = []
    for k, item in enumerate(ITEMS[13:23]):
        turns: list[Turn] = [("u", item.prompt, None)]
        if k % 3 == 1:
            turns = [("u", WARMUPS[k % 4][0], None), ("a", WARMUPS[k % 4][1], None)] + turns
        prompt = chat_messages(turns, system="You are a helpful assistant." if k % 4 == 0 else None)
        lines.append(json.dumps({"prompt": prompt, "rejected": [{"role": "assistant", "content": item.bad}],
                                 "user_preference": {"content": item.feedback}}, ensure_ascii=False))
    lines.append('{"prompt": [{"role": "user", "content": "broken line"}], "rejected": [')
    lines.append(json.dumps({"prompt": [{"role": "user", "content": ITEMS[23].prompt}],
                             "rejected": [{"role": "assistant", "content": ITEMS[23].bad}]}))
    lines.append(json.dumps({"prompt": [{"role": "user", "content": f"A {BAD_BYTES} question"}],
                             "rejected": [{"role": "assistant", "content": "No."}],
                             "user_preference": {"content": "Unhelpful."}}))
    return lines


def wildfeedback_pairs() -> list[dict]:
    rows = []
    for k, item in enumerate(ITEMS[23:33]):
        convs = [{"from": "human", "value": item.prompt}]
        if k % 3 == 0:
            convs = [{"from": "human", "value": WARMUPS[k % 4][0]}, {"from": "gpt", "value": WARMUPS[k % 4][1]}] + convs
        rows.append({"conversations": convs, "chosen": {"from": "gpt", "value": item.good},
                     "rejected": {"from": "gpt", "value": item.bad}})
    rows.append({"conversations": [{"from": "human", "value": ITEMS[33].prompt}],
                 "rejected": {"from": "gpt", "value": ITEMS[33].bad}})  # missing chosen
    rows.append({"conversations": [{"from": "human", "value": ITEMS[34].prompt}],
                 "chosen": {"from": "gpt", "value": ITEMS[34].good}, "rejected": {"from": "gpt", "value": ""}})
    rows.append(dict(rows[0]))  # duplicate
    rows.append({"conversations": [{"from": "human", "value": ITEMS[35].prompt}, {"from": "gpt", "value": "Hm."}],
                 "chosen": {"from": "gpt", "value": ITEMS[35].good}, "rejected": {"from": "gpt", "value": ITEMS[35].bad}})
    return rows


def _completion(model: str, response: str, score: float) -> dict:
    return {"model": model, "principle": "helpfulness", "custom_system_prompt": "", "response": response,
            "annotations": {}, "overall_score": score, "fine-grained_score": round(score / 2, 2)}


def ultrafeedback_raw() -> list[str]:
    lines = []
    for k, item in enumerate(ITEMS[:8]):
        completions = [_completion("model-a", item.bad, 3.0 + k % 2), _completion("model-b", item.good, 8.5),
                       _completion("model-c", item.good.split("\n")[0][:80], 6.0)]
        lines.append(json.dumps({"source": "sample", "instruction": item.prompt, "models": ["model-a", "model-b",
                                 "model-c"], "completions": completions}, ensure_ascii=False))
    tie = [_completion("model-a", ITEMS[8].bad, 5.0), _completion("model-b", ITEMS[8].good, 5.0)]
    lines.append(json.dumps({"source": "sample", "instruction": ITEMS[8].prompt, "completions": tie}))
    lines.append(json.dumps({"source": "sample", "instruction": ITEMS[9].prompt,
                             "completions": [_completion("model-a", ITEMS[9].good, 7.0)]}))
    lines.append(json.dumps({"source": "sample", "completions": [_completion("m", "x", 1.0), _completion("n", "y", 2.0)]}))
    return lines


def ultrafeedback_binarized() -> list[str]:
    lines = []
    for k, item in enumerate(ITEMS[8:16]):
        user = {"role": "user", "content": item.prompt}
        chosen = [user, {"role": "assistant", "content": item.good}]
        lines.append(json.dumps({"prompt": item.prompt, "prompt_id": f"uf-{k:03d}", "chosen": chosen,
                                 "rejected": [user, {"role": "assistant", "content": item.bad}], "messages": chosen,
                                 "score_chosen": 8.0, "score_rejected": 3.0 + k % 3}, ensure_ascii=False))
    item = ITEMS[16]
    lines.append(json.dumps({"prompt": item.prompt, "prompt_id": "uf-100", "chosen": [{"role": "user", "content": item.prompt}],
                             "rejected": [{"role": "user", "content": item.prompt},
                                          {"role": "assistant", "content": item.bad}],
                             "score_chosen": 7.0, "score_rejected": 2.0}))
    lines.append(json.dumps({"prompt": ITEMS[17].prompt, "prompt_id": "uf-101",
                             "chosen": [{"role": "user", "content": ITEMS[17].prompt},
                                        {"role": "assistant", "content": ITEMS[17].good}]}))
    lines.append(lines[0])  # duplicate
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=SAMPLES_DIR,
                        help="folder to write the sample files into (default: the package's samples folder)")
    out = parser.parse_args().out_dir
    out.mkdir(parents=True, exist_ok=True)
    rows = main_sample()
    write_bytes(out / "wildfeedback_sat_dsat.json",
                "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")
    write_bytes(out / "wildfeedback_pairs.json", json.dumps(wildfeedback_pairs(), ensure_ascii=False, indent=1) + "\n")
    for name, lines in (("chat_logs.jsonl", chat_logs()), ("drift.jsonl", drift_jsonl()),
                        ("ultrafeedback_raw.jsonl", ultrafeedback_raw()),
                        ("ultrafeedback_binarized.jsonl", ultrafeedback_binarized())):
        write_bytes(out / name, "\n".join(lines) + "\n")
    for path in sorted(out.glob("*.json*")):
        print(f"{path.name}: {path.stat().st_size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
