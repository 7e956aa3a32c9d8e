"""AlpacaEval 2's length-controlled (LC) win rate of a judge's preferences, through alpaca-eval's own code.

alpaca-eval 0.6.6 computes LC in `alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate`: a logistic
GLM ("length_controlled_v1": tanh of the standardised length difference of the two replies, the difficulty of
each instruction, and a term for the model) fitted to the preferences and regularised toward two
length-gamed baselines, then asked for the win rate at zero length difference. This module builds the
annotations that function reads and calls it; the GLM is not re-derived here.

Besides the annotations, the function reads one file, `df_gamed.csv` of the Hugging Face dataset repo
`tatsu-lab/alpaca_eval` (through `huggingface_hub.hf_hub_download`): the gamed baselines' annotations and
the difficulty of every AlpacaEval instruction, looked up by the instruction's position in AlpacaEval's
805-prompt set. (`instruction_difficulty.csv` of the same repo is read only when it predicts against
another baseline's saved weights, which is never asked for here.) Hence LC is given only

- for the AlpacaEval benchmark, on its whole prompt set in the benchmark's order (the file's instruction
  count), since a prompt's difficulty is found by its position;
- when `df_gamed.csv` is already in the local Hugging Face cache: the call runs with the hub offline and
  never downloads. `FETCH_COMMAND` fetches it once, on a machine with network.

Otherwise the result has no LC and a note saying why. The gamed rows of `df_gamed.csv` were annotated by
AlpacaEval's GPT-4 Turbo judge against its gpt4_1106_preview baseline; with a local judge and another
baseline, LC still removes the length preference as AlpacaEval's GLM models it, but it is not a
leaderboard figure.
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

if TYPE_CHECKING:
    import pandas as pd

ALPACA_BENCHMARK = "alpaca_eval"
HUB_REPO = "tatsu-lab/alpaca_eval"
GAMED_FILE = "df_gamed.csv"
FETCH_COMMAND = f"hf download {HUB_REPO} {GAMED_FILE} --repo-type dataset"
"""Puts `df_gamed.csv` into the Hugging Face cache (huggingface_hub 1.x: `huggingface-cli` no longer works)."""
GAMED_COLUMNS = ("model", "index", "instruction_difficulty", "preference", "std_delta_len", "not_gamed_baseline")
"""The columns of `df_gamed.csv` that alpaca-eval's GLM reads."""


@dataclass
class LengthControlled:
    """The LC win rate of one model over the baseline (fractions in [0, 1]), or why there is none."""

    win_rate: float | None
    se: float | None = None
    raw_win_rate: float | None = None
    """The plain win rate alpaca-eval reports for the same preferences (equals the judge's own)."""
    note: str = ""
    """Why `win_rate` is None; empty when it is given."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now (HF_HUB_CACHE, else HF_HOME/hub, else
    ~/.cache/huggingface/hub): huggingface_hub reads these variables once at import, this at every call."""
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_gamed_file(cache_dir: Path | None = None) -> Path | None:
    """`df_gamed.csv` in the local hub cache (the revision `main` points to), None when it is not there."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(HUB_REPO, GAMED_FILE, cache_dir=str(cache_dir or hub_cache_dir()),
                                   repo_type="dataset")
    return Path(found) if isinstance(found, str) else None


def unavailable_reason(benchmark: str, n_prompts: int) -> str | None:
    """Why LC cannot be computed for `n_prompts` prompts of `benchmark` here; None when it can. Cheap: it
    reads the instruction count of the cached file, loads no model and reaches no network."""
    if benchmark != ALPACA_BENCHMARK:
        return f"LC is defined on AlpacaEval's own prompt set only (benchmark {benchmark})"
    try:
        _glm_winrate()
    except ImportError as err:
        return f"alpaca-eval does not import ({err}); it is pinned in env/train.txt"
    path = cached_gamed_file()
    if path is None:
        return (f"{GAMED_FILE} of the dataset {HUB_REPO} is not in the Hugging Face cache {hub_cache_dir()}; "
                f"fetch it once with `{FETCH_COMMAND}`")
    import pandas as pd

    header = pd.read_csv(path, nrows=0).columns
    missing = [c for c in GAMED_COLUMNS if c not in header]
    if missing:
        return f"{path}: no column {', '.join(missing)}; not alpaca-eval's {GAMED_FILE} (fetch it again: `{FETCH_COMMAND}`)"
    instructions = pd.read_csv(path, usecols=["index"])["index"].nunique()
    if n_prompts != instructions:
        return (f"LC needs all {instructions} AlpacaEval prompts in the benchmark's order (the GLM finds each "
                f"instruction's difficulty by its position); these files have {n_prompts}")
    return None


def annotations_frame(instructions: Sequence[str], baseline: tuple[str, Sequence[str]],
                      model: tuple[str, Sequence[str]], scores: Sequence[float], annotator: str) -> "pd.DataFrame":
    """The annotations in AlpacaEval's convention: output_1 is the baseline's reply, output_2 the model's,
    preference = 1 + the model's score (1 baseline wins, 1.5 draw, 2 model wins; the both-order means in
    between), one row per prompt, indexed by the prompt's position in the benchmark."""
    import pandas as pd

    (base_name, base_outputs), (model_name, model_outputs) = baseline, model
    if not len(instructions) == len(base_outputs) == len(model_outputs) == len(scores):
        raise ValueError(f"{len(instructions)} instructions, {len(base_outputs)} baseline replies, "
                         f"{len(model_outputs)} replies of {model_name}, {len(scores)} scores: one each per prompt")
    frame = pd.DataFrame({
        "instruction": list(instructions), "output_1": list(base_outputs), "output_2": list(model_outputs),
        "generator_1": base_name, "generator_2": model_name, "annotator": annotator,
        "preference": [1.0 + float(s) for s in scores]})
    frame.index.name = "index"
    return frame


def _glm_winrate() -> Callable[..., dict[str, float]]:
    """alpaca-eval's LC function; its import warns that pkg_resources is deprecated, which says nothing here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate
    return get_length_controlled_winrate


@contextmanager
def _offline_hub(cache_dir: Path) -> Iterator[None]:
    """alpaca-eval's hub reads go to `cache_dir` with downloads off, and sklearn's global config (alpaca-eval
    turns metadata routing on) is restored afterwards."""
    import huggingface_hub.constants as hub
    import sklearn
    from alpaca_eval import constants

    saved = hub.HF_HUB_OFFLINE, constants.DEFAULT_CACHE_DIR, os.environ.get("HF_HUB_OFFLINE")
    hub.HF_HUB_OFFLINE, constants.DEFAULT_CACHE_DIR, os.environ["HF_HUB_OFFLINE"] = True, str(cache_dir), "1"
    try:
        with sklearn.config_context():
            yield
    finally:
        hub.HF_HUB_OFFLINE, constants.DEFAULT_CACHE_DIR = saved[0], saved[1]
        if saved[2] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[2]


def length_controlled_win_rate(benchmark: str, instructions: Sequence[str], baseline: tuple[str, Sequence[str]],
                               model: tuple[str, Sequence[str]], scores: Sequence[float],
                               annotator: str) -> LengthControlled:
    """LC win rate of `model` (name, replies) over `baseline` (name, replies) from per-prompt scores in [0, 1]
    (1 = the model's reply preferred), via alpaca-eval's `get_length_controlled_winrate`; a note instead
    when `unavailable_reason` gives one."""
    reason = unavailable_reason(benchmark, len(instructions))
    if reason is not None:
        return LengthControlled(None, note=reason)
    frame = annotations_frame(instructions, baseline, model, scores, annotator)
    with _offline_hub(hub_cache_dir()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.8+ on alpaca-eval's LogisticRegressionCV
        metrics = _glm_winrate()(frame, save_weights_dir=None, is_add_glm_preference_inplace=False,
                                                is_warn_extreme_changes=False)
    se = metrics.get("lc_standard_error")
    return LengthControlled(float(metrics["length_controlled_winrate"]) / 100,
                            None if se is None or se != se else float(se) / 100,
                            float(metrics["win_rate"]) / 100)
