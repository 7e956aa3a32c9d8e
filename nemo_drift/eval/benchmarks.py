"""Benchmark prompts in, benchmark output files out: AlpacaEval 2 and WildBench v2.

A policy that nemo-drift trained is scored with each benchmark's own evaluator, which reads a file of
model outputs in that benchmark's schema. This module reads the benchmark's prompts from a local copy
of its dataset (JSON list or JSON lines, rows exactly as the benchmark publishes them), turns each row
into the chat to sample a reply for, and writes the replies back as the file the evaluator reads:

- AlpacaEval 2 (tatsu-lab/alpaca_eval, config "alpaca_eval", split "eval", 805 prompts): a JSON list
  of ``{dataset, instruction, output, generator}``, the columns AlpacaEval's own ``evaluate_from_model``
  writes. The evaluator needs ``instruction`` and ``output`` (a string) in every row, joins them to the
  reference outputs on ``instruction``, and names the model after ``generator`` when the file holds one
  generator only.
- WildBench v2 (allenai/WildBench, config "v2", split "test", 1024 prompts): a JSON list of
  ``{session_id, chat_history, model_input, output: [text], generator, configs, dataset, primary_tag}``
  as WildBench's inference script writes it. The evaluator zips this list with the benchmark's rows by
  position and asserts that the session ids agree, so the file must keep the benchmark's order.

`check_outputs` reads a written file back the way the evaluators do and lists what they would trip on.
Plain Python (stdlib only), so the training and the generation interpreters can both import it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from nemo_drift.data.jsonl import atomic_text

SAMPLES = Path(__file__).resolve().parent / "samples"
"""Five-prompt sets in each benchmark's own schema (`alpaca_eval.json`, `wildbench_v2.jsonl`), for trying
the path from prompts to evaluator file without downloading a benchmark."""

ENGINE = "vllm"
"""What WildBench's ``configs.engine`` records: nemo-drift samples replies with vLLM."""

MODEL_INPUT_NOT_RECORDED = "n/a"
"""WildBench's ``model_input`` when the engine applies the chat template itself (WildBench writes the same
for its API engines); the evaluator never reads it."""


@dataclass(frozen=True)
class Decoding:
    """Sampling settings for a benchmark's replies; WildBench records them in each row's ``configs``."""

    temperature: float
    top_p: float
    max_tokens: int
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty!r}")


@dataclass
class BenchmarkPrompt:
    """One benchmark prompt: its key in the evaluator's file (the instruction for AlpacaEval, the session id
    for WildBench), the conversation to sample a reply for (``{role, content}`` turns ending with a user
    turn), and the benchmark's row as read, so the writer can copy the fields the evaluator reads."""

    key: str
    messages: list[dict[str, str]]
    row: dict[str, Any] = field(repr=False)


class _RowError(ValueError):
    """A row that does not fit the benchmark's schema; the message names the field and the problem."""


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark: its dataset, its prescribed decoding, and how its rows and output rows look.

    ``key_field`` is the field that identifies a prompt in both the dataset and the output file.
    ``reader`` turns one dataset row into a prompt (raising on a row the benchmark's own tools would
    refuse), ``writer`` makes the evaluator's row for a prompt and its reply, and ``checker`` lists what
    is wrong with one row of an output file as the evaluator would read it (given the prompt at that
    row's position, when there is one).
    """

    name: str
    description: str
    hub_id: str
    """The dataset on the Hugging Face hub (`--prompts` accepts this id on a machine with hub access)."""
    hub_config: str
    hub_split: str
    size: int
    key_field: str
    decoding: Decoding
    reader: Callable[[dict[str, Any]], BenchmarkPrompt] = field(repr=False)
    writer: Callable[[BenchmarkPrompt, str, str, Decoding], dict[str, Any]] = field(repr=False)
    checker: Callable[[dict[str, Any], BenchmarkPrompt | None], list[str]] = field(repr=False)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text_field(row: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    if name not in row:
        if required:
            raise _RowError(f"field '{name}' missing")
        return None
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        found = "empty" if isinstance(value, str) else _type_name(value)
        raise _RowError(f"field '{name}' is {found}, expected a non-empty string")
    return value


def _check_fields(item: dict[str, Any], schema: Sequence[tuple[str, Callable[[Any], bool], str]]) -> list[str]:
    """Problems with an output row against (field, test, what is expected) triples."""
    problems = []
    for name, test, expected in schema:
        if name not in item:
            problems.append(f"field '{name}' missing")
        elif not test(item[name]):
            problems.append(f"field '{name}' is {_type_name(item[name])}, expected {expected}")
    return problems


# --- AlpacaEval 2 ------------------------------------------------------------------------------------

_ALPACA_OUTPUT = (("instruction", _is_text, "a string"), ("output", _is_text, "a string"),
                  ("generator", _is_text, "a string"))


def _alpaca_read(row: dict[str, Any]) -> BenchmarkPrompt:
    instruction = _text_field(row, "instruction")
    _text_field(row, "dataset", required=False)
    return BenchmarkPrompt(instruction, [{"role": "user", "content": instruction}], row)


def _alpaca_write(prompt: BenchmarkPrompt, output: str, generator: str, decoding: Decoding) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if "dataset" in prompt.row:
        record["dataset"] = prompt.row["dataset"]
    record.update(instruction=prompt.row["instruction"], output=output, generator=generator)
    return record


def _alpaca_check(item: dict[str, Any], prompt: BenchmarkPrompt | None) -> list[str]:
    problems = _check_fields(item, _ALPACA_OUTPUT)
    if "dataset" in item and not _is_text(item["dataset"]):
        problems.append(f"field 'dataset' is {_type_name(item['dataset'])}, expected a string")
    return problems


# --- WildBench v2 ------------------------------------------------------------------------------------

_WILDBENCH_DATASET = "wild_bench"
"""The ``dataset`` WildBench's inference script writes into each output row (its ``--data_name``)."""

_WILDBENCH_CONFIGS = (("engine", _is_text, "a string"), ("repetition_penalty", _is_number, "a number"),
                      ("temperature", _is_number, "a number"), ("top_p", _is_number, "a number"),
                      ("max_tokens", _is_int, "an integer"))

_WILDBENCH_OUTPUT = (("session_id", _is_text, "a string"), ("chat_history", _is_text_list, "a list of strings"),
                     ("model_input", _is_text, "a string"),
                     ("output", lambda v: _is_text_list(v) and len(v) > 0, "a non-empty list of strings"),
                     ("generator", _is_text, "a string"), ("configs", lambda v: isinstance(v, dict), "an object"),
                     ("dataset", _is_text, "a string"), ("primary_tag", _is_text, "a string"))


def _wildbench_read(row: dict[str, Any]) -> BenchmarkPrompt:
    session_id = _text_field(row, "session_id")
    _text_field(row, "primary_tag")
    if "conversation_input" not in row:
        raise _RowError("field 'conversation_input' missing")
    turns = row["conversation_input"]
    if not isinstance(turns, list) or not turns:
        found = "empty" if isinstance(turns, list) else _type_name(turns)
        raise _RowError(f"field 'conversation_input' is {found}, expected a non-empty list of {{role, content}} turns")
    messages = []
    for number, turn in enumerate(turns, start=1):
        expected = "user" if number % 2 else "assistant"
        where = f"field 'conversation_input' turn {number}"
        if not isinstance(turn, dict):
            raise _RowError(f"{where} is {_type_name(turn)}, expected an object")
        if "role" not in turn or "content" not in turn:
            raise _RowError(f"{where}: '{'role' if 'role' not in turn else 'content'}' missing")
        if turn["role"] != expected:
            raise _RowError(f"{where}: role {turn['role']!r} where {expected!r} is expected "
                            "(WildBench alternates user and assistant turns, starting with the user)")
        if not isinstance(turn["content"], str):
            raise _RowError(f"{where}: 'content' is {_type_name(turn['content'])}, expected a string")
        messages.append({"role": expected, "content": turn["content"]})
    if messages[-1]["role"] != "user":
        raise _RowError("field 'conversation_input' ends with an assistant turn; WildBench asks for the reply "
                        "to a last user turn")
    if "checklist" in row and not _is_text_list(row["checklist"]):
        raise _RowError(f"field 'checklist' is {_type_name(row['checklist'])}, expected a list of strings")
    return BenchmarkPrompt(session_id, messages, row)


def _wildbench_write(prompt: BenchmarkPrompt, output: str, generator: str, decoding: Decoding) -> dict[str, Any]:
    return {
        "session_id": prompt.row["session_id"],
        "chat_history": [message["content"] for message in prompt.messages],
        "model_input": MODEL_INPUT_NOT_RECORDED,
        "output": [output],
        "generator": generator,
        "configs": {"engine": ENGINE, "repetition_penalty": float(decoding.repetition_penalty),
                    "temperature": float(decoding.temperature), "top_p": float(decoding.top_p),
                    "max_tokens": decoding.max_tokens},
        "dataset": _WILDBENCH_DATASET,
        "primary_tag": prompt.row["primary_tag"],
    }


def _wildbench_check(item: dict[str, Any], prompt: BenchmarkPrompt | None) -> list[str]:
    problems = _check_fields(item, _WILDBENCH_OUTPUT)
    if isinstance(item.get("configs"), dict):
        problems += [f"configs: {problem}" for problem in _check_fields(item["configs"], _WILDBENCH_CONFIGS)]
    if (prompt is not None and item.get("session_id") == prompt.key and _is_text_list(item.get("chat_history"))
            and item["chat_history"] != [message["content"] for message in prompt.messages]):
        problems.append("field 'chat_history' is not the prompt's conversation")
    return problems


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "alpaca_eval": BenchmarkSpec(
        name="alpaca_eval",
        description="AlpacaEval 2: 805 single-turn instructions; a GPT-4 Turbo judge compares each reply with "
                    "GPT-4 Turbo's reply (length-controlled win rate).",
        hub_id="tatsu-lab/alpaca_eval", hub_config="alpaca_eval", hub_split="eval",
        size=805,
        key_field="instruction",
        decoding=Decoding(temperature=0.7, top_p=1.0, max_tokens=2048, repetition_penalty=1.0),
        reader=_alpaca_read, writer=_alpaca_write, checker=_alpaca_check,
    ),
    "wildbench_v2": BenchmarkSpec(
        name="wildbench_v2",
        description="WildBench v2: 1024 real user conversations (some multi-turn); a GPT-4o judge scores the "
                    "reply to the last user turn against a per-task checklist (WB-Score).",
        hub_id="allenai/WildBench", hub_config="v2", hub_split="test",
        size=1024,
        key_field="session_id",
        decoding=Decoding(temperature=0.0, top_p=1.0, max_tokens=4096, repetition_penalty=1.0),
        reader=_wildbench_read, writer=_wildbench_write, checker=_wildbench_check,
    ),
}
"""The benchmarks by name. AlpacaEval prescribes no single decoding: its default is the setting most of
AlpacaEval's own configs for locally decoded open models use (src/alpaca_eval/models_configs/*/configs.yaml
with huggingface_local_completions or vllm_local_completions, e.g. zephyr-7b-beta: temperature 0.7,
top_p 1.0, max_new_tokens 2048, sampling on). WildBench's is what its inference scripts pass
(scripts/_common_vllm.sh: temperature 0, top_p 1.0, max_tokens 4096; repetition_penalty left at 1)."""


def benchmark_spec(name: str) -> BenchmarkSpec:
    """The spec of a benchmark by name; a ValueError names the known ones."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}") from None


# --- reading -----------------------------------------------------------------------------------------


def _load_rows(path: Path) -> list[tuple[int, Any]]:
    """(1-based row, value) of a JSON list, or of JSON lines (row = line number; blank lines skipped).

    A file whose first character is ``[`` is a JSON list; anything else is read as JSON lines, which is
    also what ``datasets.Dataset.to_json`` writes, whatever the file's suffix.
    """
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
        return list(enumerate(rows, start=1))
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} row {number}: not JSON ({err.msg})") from None
    return rows


def _hub_rows(spec: BenchmarkSpec) -> list[tuple[int, Any]]:
    """The benchmark's rows from the hub (or the `datasets` cache), through `datasets.load_dataset`; a
    machine without hub access gets one line saying how to use a local copy instead."""
    try:
        from datasets import load_dataset

        rows = load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split)
    except Exception as err:  # no network, no cache, gated dataset: all end the same way for the user
        raise ValueError(f"--prompts {spec.hub_id}: cannot load it from the hub ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); on a machine with access run "
                         f"`datasets.load_dataset('{spec.hub_id}', '{spec.hub_config}', split='{spec.hub_split}')"
                         f".to_json('{spec.name}.jsonl')` and pass that file") from None
    return list(enumerate(rows, start=1))


def read_prompts(benchmark: str, path: str | Path) -> list[BenchmarkPrompt]:
    """The prompts of a local copy of a benchmark's dataset, in file order, or of the dataset itself when
    `path` is its hub id (e.g. "allenai/WildBench") and no such local file exists.

    The file holds the benchmark's rows unchanged, as a JSON list or as JSON lines. A row that the
    benchmark's tools would refuse raises a one-line ValueError naming the file, the 1-based row and the
    field; so do an empty file and a repeated key (a repeated session id or instruction would be paired
    with the wrong reply by the evaluator).
    """
    spec = benchmark_spec(benchmark)
    path = Path(path)
    if str(path) == spec.hub_id and not path.exists():
        rows = _hub_rows(spec)
    elif not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({spec.name} prompts; or its hub id {spec.hub_id})")
    else:
        rows = _load_rows(path)
    prompts: list[BenchmarkPrompt] = []
    first_row: dict[str, int] = {}
    for number, row in rows:
        where = f"{path} row {number}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: {_type_name(row)}, expected a JSON object ({spec.name} prompt)")
        try:
            prompt = spec.reader(row)
        except _RowError as err:
            raise ValueError(f"{where}: {err} ({spec.name} prompt)") from None
        if prompt.key in first_row:
            raise ValueError(f"{where}: field '{spec.key_field}' {_short(prompt.key)} repeats row "
                             f"{first_row[prompt.key]} ({spec.name} prompt)")
        first_row[prompt.key] = number
        prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: no prompts ({spec.name} prompts)")
    return prompts


def _short(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[:width] + "...")


# --- writing -----------------------------------------------------------------------------------------


def write_outputs(benchmark: str, prompts: Sequence[BenchmarkPrompt], outputs: Sequence[str],
                  generator: str, path: str | Path, decoding: Decoding | None = None) -> Path:
    """Write the evaluator's file for `prompts` and their replies `outputs` (same order), atomically.

    Rows keep the prompts' order, which is the benchmark's when the prompts came from `read_prompts` on the
    benchmark's file. `generator` names the model in the evaluator's tables. `decoding` (the benchmark's
    when None) is what the replies were sampled with; WildBench records it in each row's ``configs``,
    AlpacaEval's file has no place for it. The file appears at `path` complete or not at all.
    """
    spec = benchmark_spec(benchmark)
    decoding = spec.decoding if decoding is None else decoding
    if len(outputs) != len(prompts):
        raise ValueError(f"{len(outputs)} outputs for {len(prompts)} prompts; {spec.name} needs one reply per prompt")
    if not isinstance(generator, str) or not generator.strip():
        raise ValueError(f"generator must be a non-empty string naming the model, got {generator!r}")
    records = []
    for number, (prompt, output) in enumerate(zip(prompts, outputs), start=1):
        if not isinstance(output, str):
            raise ValueError(f"output {number} is {_type_name(output)}, expected a string")
        try:
            spec.reader(prompt.row)
        except _RowError as err:
            raise ValueError(f"prompt {number} ({_short(prompt.key)}): {err} ({spec.name} prompt)") from None
        records.append(spec.writer(prompt, output, generator, decoding))
    path = Path(path)
    with atomic_text(path) as handle:
        json.dump(records, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return path


# --- checking ----------------------------------------------------------------------------------------


def check_outputs(benchmark: str, path: str | Path, prompts: Sequence[BenchmarkPrompt]) -> list[str]:
    """What the benchmark's evaluator would trip on in the output file at `path`, one line each; empty
    when none.

    Checks that the file is a JSON list with one row per prompt, that every row has the fields the
    evaluator and the benchmark's result schema hold, with their types, that the rows come in the
    prompts' order (WildBench asserts its session ids by position; AlpacaEval joins on the instruction),
    that WildBench's ``chat_history`` is the prompt's conversation, and that the file names one generator
    (AlpacaEval names the model after it only when there is one).
    """
    spec = benchmark_spec(benchmark)
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return [f"{path}: not JSON ({err})"]
    if not isinstance(data, list):
        return [f"{path}: {_type_name(data)}, expected a JSON list of rows"]
    problems = []
    if len(data) != len(prompts):
        problems.append(f"{path}: {len(data)} rows for {len(prompts)} prompts")
    key_field = spec.key_field
    out_of_order: list[str] = []
    generators: set[str] = set()
    for number, item in enumerate(data, start=1):
        where = f"{path} row {number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: {_type_name(item)}, expected a JSON object")
            continue
        prompt = prompts[number - 1] if number <= len(prompts) else None
        problems += [f"{where}: {problem}" for problem in spec.checker(item, prompt)]
        if _is_text(item.get("generator")):
            generators.add(item["generator"])
        if prompt is not None and item.get(key_field) != prompt.key:
            out_of_order.append(f"{where}: {key_field} {_short(str(item.get(key_field)))} where the prompts have "
                                f"{_short(prompt.key)}")
    if out_of_order:
        more = f" (and {len(out_of_order) - 1} more rows)" if len(out_of_order) > 1 else ""
        why = ("WildBench asserts each row's session_id against the benchmark row at the same position"
               if spec.name == "wildbench_v2" else "rows must keep the benchmark's order")
        problems.append(f"{out_of_order[0]}{more}; {why}")
    if len(generators) > 1:
        problems.append(f"{path}: {len(generators)} generators ({', '.join(sorted(map(repr, generators)))}); "
                        "the evaluator scores one model per file, named by its generator")
    return problems
