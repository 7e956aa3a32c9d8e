"""Benchmark prompt readers and output writers (AlpacaEval 2, WildBench v2) on the shipped samples and
hand-written files: what is read, what is written, and what the checks and the errors name."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from nemo_drift.eval import benchmarks
from nemo_drift.eval.benchmarks import (BENCHMARKS, SAMPLES, BenchmarkPrompt, Decoding, check_outputs,
                                        read_prompts, write_outputs)

ALPACA_SAMPLE = SAMPLES / "alpaca_eval.json"
WILDBENCH_SAMPLE = SAMPLES / "wildbench_v2.jsonl"
ALPACA_FIELDS = {"dataset", "instruction", "output", "generator"}
WILDBENCH_FIELDS = {"session_id", "chat_history", "model_input", "output", "generator", "configs", "dataset",
                    "primary_tag"}


def _alpaca_rows() -> list[dict]:
    return json.loads(ALPACA_SAMPLE.read_text())


def _wildbench_rows() -> list[dict]:
    return [json.loads(line) for line in WILDBENCH_SAMPLE.read_text().splitlines() if line.strip()]


def _replies(prompts: list[BenchmarkPrompt]) -> list[str]:
    return [f"reply to {p.key}" for p in prompts]


def _write_rows(path: Path, rows: list, jsonl: bool) -> Path:
    if jsonl:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        path.write_text(json.dumps(rows, indent=2))
    return path


# --- specs -------------------------------------------------------------------------------------------


def test_specs_carry_each_benchmarks_decoding_and_size():
    assert set(BENCHMARKS) == {"alpaca_eval", "wildbench_v2"}
    assert BENCHMARKS["wildbench_v2"].decoding == Decoding(temperature=0.0, top_p=1.0, max_tokens=4096,
                                                           repetition_penalty=1.0)
    assert BENCHMARKS["alpaca_eval"].decoding == Decoding(temperature=0.7, top_p=1.0, max_tokens=2048,
                                                          repetition_penalty=1.0)
    assert (BENCHMARKS["alpaca_eval"].size, BENCHMARKS["wildbench_v2"].size) == (805, 1024)
    assert all(name == spec.name for name, spec in BENCHMARKS.items())


@pytest.mark.parametrize("kwargs", [dict(max_tokens=0), dict(top_p=0.0), dict(temperature=-0.1),
                                    dict(repetition_penalty=0.0), dict(max_tokens=4096.0)])
def test_decoding_refuses_settings_no_sampler_takes(kwargs):
    settings = dict(temperature=0.0, top_p=1.0, max_tokens=4096) | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Decoding(**settings)


# --- reading -----------------------------------------------------------------------------------------


def test_shipped_samples_read_back_in_file_order():
    alpaca = read_prompts("alpaca_eval", ALPACA_SAMPLE)
    assert [p.key for p in alpaca] == [row["instruction"] for row in _alpaca_rows()]
    assert all(p.messages == [{"role": "user", "content": p.key}] for p in alpaca)
    assert [p.row for p in alpaca] == _alpaca_rows()

    wildbench = read_prompts("wildbench_v2", WILDBENCH_SAMPLE)
    rows = _wildbench_rows()
    assert len(wildbench) == 5
    assert [p.key for p in wildbench] == [row["session_id"] for row in rows]
    assert [p.row for p in wildbench] == rows
    for prompt, row in zip(wildbench, rows):
        assert prompt.messages == [{"role": t["role"], "content": t["content"]} for t in row["conversation_input"]]
        assert prompt.messages[-1]["role"] == "user"
    assert max(len(p.messages) for p in wildbench) >= 3  # the sample has a multi-turn conversation


def test_a_json_list_and_json_lines_read_the_same(tmp_path):
    rows = _wildbench_rows()
    as_list = read_prompts("wildbench_v2", _write_rows(tmp_path / "wb.json", rows, jsonl=False))
    as_lines = read_prompts("wildbench_v2", _write_rows(tmp_path / "wb_lines.json", rows, jsonl=True))
    assert [(p.key, p.messages) for p in as_list] == [(p.key, p.messages) for p in as_lines]


def _del(field):
    return lambda row: row.pop(field)


def _set(field, value):
    return lambda row: row.__setitem__(field, value)


def _turn(index, field, value):
    return lambda row: row["conversation_input"][index].__setitem__(field, value)


ALPACA_BAD = [
    ("missing", _del("instruction"), "field 'instruction' missing"),
    ("number", _set("instruction", 7), "field 'instruction' is int"),
    ("empty", _set("instruction", "  "), "field 'instruction' is empty"),
    ("null", _set("instruction", None), "field 'instruction' is null"),
    ("bad dataset", _set("dataset", ["x"]), "field 'dataset' is list"),
]

WILDBENCH_BAD = [
    ("no session id", _del("session_id"), "field 'session_id' missing"),
    ("numeric session id", _set("session_id", 12), "field 'session_id' is int"),
    ("no primary tag", _del("primary_tag"), "field 'primary_tag' missing"),
    ("no conversation", _del("conversation_input"), "field 'conversation_input' missing"),
    ("empty conversation", _set("conversation_input", []), "field 'conversation_input' is empty"),
    ("conversation not a list", _set("conversation_input", "hi"), "field 'conversation_input' is str"),
    ("turn not an object", _set("conversation_input", ["hi"]), "field 'conversation_input' turn 1 is str"),
    ("turn without content", lambda row: row["conversation_input"][0].pop("content"),
     "field 'conversation_input' turn 1: 'content' missing"),
    ("turn without role", lambda row: row["conversation_input"][0].pop("role"),
     "field 'conversation_input' turn 1: 'role' missing"),
    ("content not text", _turn(0, "content", None), "field 'conversation_input' turn 1: 'content' is null"),
    ("starts with assistant", _turn(0, "role", "assistant"), "field 'conversation_input' turn 1: role 'assistant'"),
    ("ends with assistant", lambda row: row["conversation_input"].append(
        {"role": "assistant", "content": "ok"}), "field 'conversation_input' ends with an assistant turn"),
    ("bad checklist", _set("checklist", "one item"), "field 'checklist' is str"),
]


@pytest.mark.parametrize("jsonl", [False, True], ids=["json", "jsonl"])
@pytest.mark.parametrize("benchmark, case, mutate, expected",
                         [("alpaca_eval", *c) for c in ALPACA_BAD] + [("wildbench_v2", *c) for c in WILDBENCH_BAD],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_bad_rows_name_the_file_the_row_and_the_field(tmp_path, benchmark, case, mutate, expected, jsonl):
    rows = (_alpaca_rows() if benchmark == "alpaca_eval" else _wildbench_rows())[:4]
    mutate(rows[2])
    path = _write_rows(tmp_path / ("prompts.jsonl" if jsonl else "prompts.json"), rows, jsonl)
    with pytest.raises(ValueError) as err:
        read_prompts(benchmark, path)
    message = str(err.value)
    assert message.startswith(f"{path} row 3: {expected}"), message
    assert message.endswith(f"({benchmark} prompt)") and "\n" not in message


@pytest.mark.parametrize("benchmark, field", [("alpaca_eval", "instruction"), ("wildbench_v2", "session_id")])
def test_a_repeated_key_is_refused(tmp_path, benchmark, field):
    rows = _alpaca_rows() if benchmark == "alpaca_eval" else _wildbench_rows()
    rows[3] = copy.deepcopy(rows[3]) | {field: rows[1][field]}
    path = _write_rows(tmp_path / "prompts.json", rows, jsonl=False)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} row 4: field '{field}' .* repeats row 2 \({benchmark} prompt\)$"):
        read_prompts(benchmark, path)


@pytest.mark.parametrize("jsonl", [False, True], ids=["json", "jsonl"])
def test_a_row_that_is_not_an_object_is_named(tmp_path, jsonl):
    rows = _alpaca_rows()[:3]
    rows[1] = ["not", "an", "object"]
    path = _write_rows(tmp_path / "prompts.json", rows, jsonl)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} row 2: list, expected a JSON object \(alpaca_eval prompt\)$"):
        read_prompts("alpaca_eval", path)


def test_a_line_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "prompts.jsonl"
    lines = WILDBENCH_SAMPLE.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ['{"session_id": "wb-x",'] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} row 3: not JSON"):
        read_prompts("wildbench_v2", path)


@pytest.mark.parametrize("content", ["", "\n\n", "[]"], ids=["empty", "blank lines", "empty list"])
def test_an_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "prompts.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: no prompts"):
        read_prompts("alpaca_eval", path)


def test_a_missing_file_and_an_unknown_benchmark_are_named(tmp_path):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        read_prompts("wildbench_v2", missing)
    for call in (lambda: read_prompts("mt_bench", ALPACA_SAMPLE),
                 lambda: write_outputs("mt_bench", [], [], "m", tmp_path / "out.json"),
                 lambda: check_outputs("mt_bench", tmp_path / "out.json", [])):
        with pytest.raises(ValueError, match="unknown benchmark 'mt_bench'; known: alpaca_eval, wildbench_v2"):
            call()


# --- writing -----------------------------------------------------------------------------------------


def test_alpaca_eval_file_has_the_fields_its_evaluator_reads(tmp_path):
    prompts = read_prompts("alpaca_eval", ALPACA_SAMPLE)
    out = write_outputs("alpaca_eval", prompts, _replies(prompts), "drift-iter2", tmp_path / "model_outputs.json")
    assert check_outputs("alpaca_eval", out, prompts) == []
    written = json.loads(out.read_text())
    assert isinstance(written, list) and len(written) == len(prompts)
    for item, prompt, row in zip(written, prompts, _alpaca_rows()):
        assert set(item) == ALPACA_FIELDS
        assert item == {"dataset": row["dataset"], "instruction": row["instruction"],
                        "output": f"reply to {prompt.key}", "generator": "drift-iter2"}


def test_wildbench_file_has_the_result_schema_and_the_decoding_in_configs(tmp_path):
    prompts = read_prompts("wildbench_v2", WILDBENCH_SAMPLE)
    out = write_outputs("wildbench_v2", prompts, _replies(prompts), "drift-iter2", tmp_path / "wb.json")
    assert check_outputs("wildbench_v2", out, prompts) == []
    written = json.loads(out.read_text())
    assert [item["session_id"] for item in written] == [p.key for p in prompts]
    for item, row in zip(written, _wildbench_rows()):
        assert set(item) == WILDBENCH_FIELDS
        assert item["chat_history"] == [turn["content"] for turn in row["conversation_input"]]
        assert item["output"] == [f"reply to {row['session_id']}"]
        assert item["primary_tag"] == row["primary_tag"]
        assert (item["generator"], item["dataset"], item["model_input"]) == ("drift-iter2", "wild_bench", "n/a")
        assert item["configs"] == {"engine": "vllm", "repetition_penalty": 1.0, "temperature": 0.0, "top_p": 1.0,
                                   "max_tokens": 4096}
    assert max(len(item["chat_history"]) for item in written) == 3

    sampled = Decoding(temperature=0.6, top_p=0.9, max_tokens=1024, repetition_penalty=1.05)
    out = write_outputs("wildbench_v2", prompts, _replies(prompts), "drift-iter2", tmp_path / "wb2.json", sampled)
    configs = json.loads(out.read_text())[0]["configs"]
    assert configs == {"engine": "vllm", "repetition_penalty": 1.05, "temperature": 0.6, "top_p": 0.9,
                       "max_tokens": 1024}
    assert isinstance(configs["max_tokens"], int) and isinstance(configs["temperature"], float)


@pytest.mark.parametrize("benchmark", ["alpaca_eval", "wildbench_v2"])
def test_written_rows_keep_the_input_order_of_shuffled_ids(tmp_path, benchmark):
    if benchmark == "alpaca_eval":
        rows = _alpaca_rows()
        for row, text in zip(rows, ["zeta", "alpha", "mu", "beta", "omega"]):
            row["instruction"] = f"{text}: {row['instruction']}"
    else:
        rows = _wildbench_rows()
        for row, sid in zip(rows, ["wb-sample-0905", "wb-sample-0012", "wb-sample-0400", "wb-sample-0003",
                                   "wb-sample-0777"]):
            row["session_id"] = sid
    path = _write_rows(tmp_path / "prompts.json", rows, jsonl=False)
    key = BENCHMARKS[benchmark].key_field
    prompts = read_prompts(benchmark, path)
    assert [p.key for p in prompts] == [row[key] for row in rows]
    assert [p.key for p in prompts] != sorted(p.key for p in prompts)
    out = write_outputs(benchmark, prompts, _replies(prompts), "m", tmp_path / "out.json")
    written = json.loads(out.read_text())
    assert [item[key] for item in written] == [row[key] for row in rows]
    replies = [item["output"][0] if benchmark == "wildbench_v2" else item["output"] for item in written]
    assert replies == _replies(prompts)
    assert check_outputs(benchmark, out, prompts) == []


@pytest.mark.parametrize("outputs, match", [(["a"] * 4, "4 outputs for 5 prompts"),
                                            (["a"] * 6, "6 outputs for 5 prompts"),
                                            (["a", "b", None, "d", "e"], "output 3 is null, expected a string")])
def test_write_refuses_outputs_that_do_not_fit_the_prompts(tmp_path, outputs, match):
    prompts = read_prompts("wildbench_v2", WILDBENCH_SAMPLE)
    target = tmp_path / "wb.json"
    with pytest.raises(ValueError, match=match):
        write_outputs("wildbench_v2", prompts, outputs, "m", target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_write_refuses_a_prompt_of_another_benchmark(tmp_path):
    prompts = read_prompts("alpaca_eval", ALPACA_SAMPLE)
    with pytest.raises(ValueError, match=r"prompt 1 \(.*\): field 'session_id' missing \(wildbench_v2 prompt\)"):
        write_outputs("wildbench_v2", prompts, _replies(prompts), "m", tmp_path / "wb.json")
    with pytest.raises(ValueError, match="generator"):
        write_outputs("alpaca_eval", prompts, _replies(prompts), " ", tmp_path / "ae.json")


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    prompts = read_prompts("alpaca_eval", ALPACA_SAMPLE)
    target = write_outputs("alpaca_eval", prompts, _replies(prompts), "first", tmp_path / "out.json")
    before = target.read_text()

    def dump_half(records, handle, **kwargs):
        handle.write('[{"instruction": ')
        raise OSError("disk full")

    monkeypatch.setattr(benchmarks.json, "dump", dump_half)
    with pytest.raises(OSError, match="disk full"):
        write_outputs("alpaca_eval", prompts, _replies(prompts), "second", target)
    assert target.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


# --- checking ----------------------------------------------------------------------------------------


def _written(tmp_path: Path, benchmark: str) -> tuple[list[BenchmarkPrompt], Path, list[dict]]:
    sample = ALPACA_SAMPLE if benchmark == "alpaca_eval" else WILDBENCH_SAMPLE
    prompts = read_prompts(benchmark, sample)
    out = write_outputs(benchmark, prompts, _replies(prompts), "m", tmp_path / "out.json")
    return prompts, out, json.loads(out.read_text())


def _rewrite(path: Path, items: list) -> Path:
    path.write_text(json.dumps(items, indent=2))
    return path


@pytest.mark.parametrize("benchmark", ["alpaca_eval", "wildbench_v2"])
def test_check_catches_a_swapped_order(tmp_path, benchmark):
    prompts, out, items = _written(tmp_path, benchmark)
    items[1], items[3] = items[3], items[1]
    problems = check_outputs(benchmark, _rewrite(out, items), prompts)
    assert len(problems) == 1
    key = BENCHMARKS[benchmark].key_field
    assert problems[0].startswith(f"{out} row 2: {key} ") and "(and 1 more rows)" in problems[0]


@pytest.mark.parametrize("benchmark, field", [("alpaca_eval", "output"), ("alpaca_eval", "instruction"),
                                              ("alpaca_eval", "generator"), ("wildbench_v2", "output"),
                                              ("wildbench_v2", "session_id"), ("wildbench_v2", "configs"),
                                              ("wildbench_v2", "chat_history"), ("wildbench_v2", "primary_tag")])
def test_check_catches_a_missing_field(tmp_path, benchmark, field):
    prompts, out, items = _written(tmp_path, benchmark)
    del items[2][field]
    problems = check_outputs(benchmark, _rewrite(out, items), prompts)
    assert f"{out} row 3: field '{field}' missing" in problems


@pytest.mark.parametrize("benchmark, path, value, expected", [
    ("alpaca_eval", ("output",), ["a list"], "field 'output' is list, expected a string"),
    ("alpaca_eval", ("generator",), None, "field 'generator' is null, expected a string"),
    ("wildbench_v2", ("output",), "plain text", "field 'output' is str, expected a non-empty list of strings"),
    ("wildbench_v2", ("output",), [], "field 'output' is list, expected a non-empty list of strings"),
    ("wildbench_v2", ("chat_history",), "text", "field 'chat_history' is str, expected a list of strings"),
    ("wildbench_v2", ("configs", "max_tokens"), "4096", "configs: field 'max_tokens' is str, expected an integer"),
    ("wildbench_v2", ("configs", "temperature"), True, "configs: field 'temperature' is bool, expected a number"),
])
def test_check_catches_a_wrong_type(tmp_path, benchmark, path, value, expected):
    prompts, out, items = _written(tmp_path, benchmark)
    target = items[4]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    problems = check_outputs(benchmark, _rewrite(out, items), prompts)
    assert f"{out} row 5: {expected}" in problems


def test_check_catches_a_missing_config_and_a_changed_conversation(tmp_path):
    prompts, out, items = _written(tmp_path, "wildbench_v2")
    del items[0]["configs"]["engine"]
    items[1]["chat_history"] = items[1]["chat_history"][-1:]
    problems = check_outputs("wildbench_v2", _rewrite(out, items), prompts)
    assert problems == [f"{out} row 1: configs: field 'engine' missing",
                        f"{out} row 2: field 'chat_history' is not the prompt's conversation"]


@pytest.mark.parametrize("benchmark", ["alpaca_eval", "wildbench_v2"])
def test_check_catches_a_dropped_row_and_mixed_generators(tmp_path, benchmark):
    prompts, out, items = _written(tmp_path, benchmark)
    problems = check_outputs(benchmark, _rewrite(out, items[:-1]), prompts)
    assert problems == [f"{out}: 4 rows for 5 prompts"]
    items[0]["generator"] = "other"
    problems = check_outputs(benchmark, _rewrite(out, items), prompts)
    assert problems == [f"{out}: 2 generators ('m', 'other'); the evaluator scores one model per file, named by "
                        "its generator"]


@pytest.mark.parametrize("content, expected", [(None, "no such file"), ("{not json", "not JSON"),
                                               ('{"session_id": "x"}', "dict, expected a JSON list of rows"),
                                               ('[1]', "row 1: int, expected a JSON object")])
def test_check_reports_a_file_the_evaluator_cannot_load(tmp_path, content, expected):
    prompts = read_prompts("wildbench_v2", WILDBENCH_SAMPLE)[:1]
    path = tmp_path / "wb.json"
    if content is not None:
        path.write_text(content)
    problems = check_outputs("wildbench_v2", path, prompts)
    assert problems and problems[0].startswith(f"{path}") and expected in problems[0]


def test_prompts_by_hub_id_go_through_datasets_with_the_benchmarks_config(monkeypatch):
    # no network here: `datasets.load_dataset` is replaced by the shipped rows, and what it was asked for is checked
    import datasets

    asked = []
    rows = json.loads((SAMPLES / "alpaca_eval.json").read_text())
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: asked.append((a, k)) or rows)
    prompts = read_prompts("alpaca_eval", "tatsu-lab/alpaca_eval")
    assert asked == [(("tatsu-lab/alpaca_eval", "alpaca_eval"), {"split": "eval"})]
    assert [p.key for p in prompts] == [p.key for p in read_prompts("alpaca_eval", SAMPLES / "alpaca_eval.json")]


def test_a_hub_id_without_hub_access_says_how_to_use_a_local_copy(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'allenai/WildBench' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(ValueError, match=r"--prompts allenai/WildBench: cannot load it from the hub \(ConnectionError"):
        read_prompts("wildbench_v2", "allenai/WildBench")
    with pytest.raises(FileNotFoundError, match="or its hub id allenai/WildBench"):
        read_prompts("wildbench_v2", "allenai/WildBench-typo")
