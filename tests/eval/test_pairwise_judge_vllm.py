"""`nemo-drift eval judge` through the real sampler (vLLM on CPU) with SmolLM2 as the judge, on the shipped five AlpacaEval
prompts: every prompt is judged in both orders for every candidate and the figures and files come out. The
mechanism only: a 135M judge's verdicts mean nothing."""
from __future__ import annotations

import json

import pytest

from nemo_drift.cli import main
from nemo_drift.config.loader import load_config, to_yaml
from nemo_drift.eval.benchmarks import SAMPLES, read_prompts, write_outputs
from nemo_drift.generation.records import read_samples

BASE = ["Sure.", "I can help with that.", "Yes.", "Here it is.", "No idea."]
TERSE = ["OK.", "Done.", "Fine.", "Yes.", "Maybe."]
CAREFUL = ["Step one: read the question. Step two: answer it clearly and check the result.",
           "Here is a careful answer with one example and a short explanation of why it works.",
           "The answer is below, with the main point first and the details after it.",
           "A short list: first the main idea, then two supporting points.",
           "I would start from the definition and then give a worked example."]


@pytest.mark.slow
def test_smollm2_judges_every_prompt_in_both_orders(tmp_path, smollm2_path, gen_python, capsys):
    prompts = read_prompts("alpaca_eval", SAMPLES / "alpaca_eval.json")
    files = [write_outputs("alpaca_eval", prompts, replies, name, tmp_path / f"{name}.json")
             for name, replies in (("base", BASE), ("terse", TERSE), ("careful", CAREFUL))]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(to_yaml(load_config([])))
    # the settings come last, after the files, as a user types them
    assert main(["eval", "judge", "alpaca_eval", *map(str, files[1:]), "--prompts", str(SAMPLES / "alpaca_eval.json"),
                 "--baseline", str(files[0]), "--judge-model", str(smollm2_path), "--work-dir", str(tmp_path / "judge"),
                 "--max-tokens", "2", "--run", str(run), f"generation.python={gen_python}"]) == 0
    assert "| outputs | win rate over" in capsys.readouterr().out

    record = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert record["kind"] == "eval" and record["eval"] == "judge_alpaca_eval"
    assert list(record["outputs"]) == [str(files[1]), str(files[2])]
    for figures in record["outputs"].values():
        assert figures["prompts"] == 5 and 0.0 <= figures["win_rate"] <= 1.0 and 0 <= figures["undecided"] <= 10
        assert 0.0 <= figures["consistency"] <= 1.0
        assert figures["lc_win_rate"] is None  # five prompts: never AlpacaEval's LC
    report = (run / "report.md").read_text()
    assert "## LLM judge: alpaca_eval" in report and "LC: " in report
    samples = read_samples(tmp_path / "judge" / "samples" / "samples.jsonl")
    assert len(samples) == 2 * 2 * 5 and all(len(s.token_ids) <= 2 for s in samples)
    verdicts = json.loads((tmp_path / "judge" / "verdicts.json").read_text())
    assert {rec["score"] for rec in verdicts["pairs"]} <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert sorted(rec["candidate"] for rec in verdicts["pairs"]) == sorted([str(files[1])] * 5 + [str(files[2])] * 5)
    settings = json.loads((tmp_path / "judge" / "samples" / "settings.json").read_text())["generation"]
    assert (settings["temperature"], settings["max_tokens"], settings["n"]) == (0.0, 2, 1)
