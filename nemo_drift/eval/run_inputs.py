"""What an evaluation reads from run folders of `nemo-drift run`: each method's final policy, and the
held-out conversations to prompt it with.

Run folder layout relied on (written by nemo_drift/controller: pipeline.py, stage_dir.py, stages.py):

    runs/<name>/config.yaml                    the resolved config; `method.iterations` is K
    runs/<name>/data/dsat.jsonl                DsatExample records with split "train" | "heldout"
    runs/<name>/data/seed_pairs.jsonl          SeedPair records (the warm start's pairs)
    runs/<name>/iter_<k>/export/manifest.json  written last: the export of iteration k is finished
    runs/<name>/iter_<k>/export/hf/            its Hugging Face folder (config.json, weights, tokenizer)

The eval layer does not import the controller (dependencies point down); the names below repeat its
constants, and tests/eval/test_coverage_run.py builds its fake run folder from the controller's own
constants, so a change of layout there fails that test.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

EXPORT_STAGE, HF_FOLDER, MANIFEST = "export", "hf", "manifest.json"
"""Stage folder of an iteration's Hugging Face export, the folder inside it, and the file that marks a
stage finished (nemo_drift/controller/stages.py HF_FOLDER, manifest.py MANIFEST)."""

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
"""A method name: it names a folder under the output folder and a row of the table."""

_ITER = re.compile(r"iter_(\d+)")


def is_hf_folder(path: Path) -> bool:
    """A Hugging Face model folder: it holds a config.json."""
    return (path / "config.json").is_file()


def _planned_iterations(run_dir: Path, spec: str) -> Optional[int]:
    """K of a run folder: `method.iterations` of its config.yaml (None when the folder has none)."""
    config = run_dir / "config.yaml"
    if not config.is_file():
        return None
    from nemo_drift.config.loader import load_config_file

    try:
        return int(load_config_file(config).method.iterations)
    except ValueError as err:
        raise ValueError(f"{spec}: {config} is not a readable run config ({str(err).splitlines()[0]})") from None


def final_export(run_dir: Path, spec: str) -> Path:
    """The Hugging Face export of a run folder's last iteration (K of its config.yaml, else the highest
    iter_<k>/ present); ValueError naming `spec` when that export is not finished."""
    found = sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := _ITER.fullmatch(p.name)) and p.is_dir())
    planned = _planned_iterations(run_dir, spec)
    if planned is None and not found:
        raise ValueError(f"{spec}: {run_dir} is neither a run folder (no config.yaml, no iter_<k>/) nor a "
                         "Hugging Face model folder (no config.json)")
    last = planned if planned is not None else found[-1]
    export = run_dir / f"iter_{last}" / EXPORT_STAGE
    hf = export / HF_FOLDER
    if not ((export / MANIFEST).is_file() and is_hf_folder(hf)):
        raise ValueError(f"{spec}: run folder {run_dir} has no finished export of its last iteration {last} "
                         f"({hf}); finish the run, or name an iteration's export directly: NAME={run_dir}/iter_<k>/"
                         f"{EXPORT_STAGE}/{HF_FOLDER}")
    return hf


def default_name(path: Path, run_dir: bool) -> str:
    """A run folder's name; for a model folder its name, or `<run>_iter<k>` for a run's iter_<k>/export/hf."""
    if not run_dir and path.name == HF_FOLDER and path.parent.name == EXPORT_STAGE:
        match = _ITER.fullmatch(path.parent.parent.name)
        if match:
            return f"{path.parent.parent.parent.name}_iter{match.group(1)}"
    return path.name


def run_folder_of(hf: Path) -> Optional[Path]:
    """The run folder a `runs/<name>/iter_<k>/export/hf` folder belongs to, else None."""
    hf = Path(hf)
    if hf.name == HF_FOLDER and hf.parent.name == EXPORT_STAGE and _ITER.fullmatch(hf.parent.parent.name):
        return hf.parent.parent.parent
    return None


def _split_spec(spec: str) -> tuple[Optional[str], str]:
    """`NAME=PATH` -> (NAME, PATH); a spec whose part before the first '=' is no valid name is a PATH."""
    head, sep, tail = spec.partition("=")
    if sep and NAME_PATTERN.fullmatch(head):
        return head, tail
    return None, spec


def resolve_methods(specs: list[str]) -> dict[str, Path]:
    """Method name -> Hugging Face folder, in the order given. Each spec is `NAME=PATH` or `PATH`: a run
    folder (its last iteration's export; name: the run folder's) or a Hugging Face model folder (name: the
    folder's). ValueError, one line naming the spec: missing path, unfinished run, bad or repeated name,
    fewer than 2 methods."""
    methods: dict[str, Path] = {}
    for spec in specs:
        name, raw = _split_spec(spec)
        path = Path(raw).expanduser()
        if not raw or not path.exists():
            raise ValueError(f"{spec}: {raw or '(empty path)'} does not exist")
        if not path.is_dir():
            raise ValueError(f"{spec}: {path} is a file; give a run folder or a Hugging Face model folder")
        run_dir = not is_hf_folder(path)
        hf = final_export(path, spec) if run_dir else path
        name = name or default_name(path.resolve(), run_dir)
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"{spec}: {name!r} is not a usable method name (letters, digits, . _ + -); "
                             "name it: NAME=PATH")
        if name in methods:
            raise ValueError(f"{spec}: method name {name!r} is given twice; name one of them: NAME=PATH")
        methods[name] = hf
    if len(methods) < 2:
        raise ValueError(f"coverage needs at least 2 methods, got {len(methods)}: {' '.join(specs) or '(none)'}")
    return methods


def heldout_contexts(run_dir: Path) -> list[tuple[str, list[dict]]]:
    """(DSAT record id, the messages before its DSAT reply) of a run folder's held-out DSAT records, in file
    order, selected as the held-out signal selects them (nemo_drift/eval/heldout.py `heldout_pairs`: a
    record the warm start trained on is no longer held out); one entry per distinct context."""
    from nemo_drift.data.records import DsatExample, SeedPair, read_jsonl
    from nemo_drift.eval.heldout import DSAT, heldout_pairs
    from nemo_drift.methods.seed import warm_start_pairs

    data = run_dir / "data"
    dsat_path = data / "dsat.jsonl"
    if not dsat_path.is_file():
        raise ValueError(f"{dsat_path}: no such file (is {run_dir} a run folder whose prepare stage finished?); "
                         "or give --prompts FILE --benchmark NAME")
    seeds_path = data / "seed_pairs.jsonl"
    seeds = read_jsonl(seeds_path, SeedPair) if seeds_path.is_file() else []
    trained: list = []
    if (run_dir / "config.yaml").is_file() and seeds:
        from nemo_drift.config.loader import load_config_file

        method = load_config_file(run_dir / "config.yaml").method
        trained = warm_start_pairs(seeds, method.warm_start_seeds) if method.warm_start else []
    held = heldout_pairs(read_jsonl(dsat_path, DsatExample), [], seeds, trained)
    out: list[tuple[str, list[dict]]] = []
    seen: set[tuple] = set()
    for pair in held.pairs:
        if not pair.id.startswith(f"{DSAT}/"):
            continue
        messages = [{"role": m["role"], "content": m["content"]} for m in pair.prompt]
        key = tuple((m["role"], m["content"]) for m in messages)
        if key not in seen:
            seen.add(key)
            out.append((pair.id.split("/", 1)[1], messages))
    return out


def coverage_prompts(prompts_path: Optional[str], benchmark: Optional[str], run_dir: Optional[Path],
                     count: int) -> list[tuple[str, list[dict]]]:
    """The first `count` (prompt id, chat messages): from a benchmark prompt file (`--prompts` with
    `--benchmark`; id = the benchmark's key), or else the held-out DSAT conversations of `run_dir` (the
    first method's run folder; id = the DSAT record id). ValueError naming the setting otherwise."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"--count: {count!r} must be a positive integer (the paper used 50 prompts)")
    if (prompts_path is None) != (benchmark is None):
        raise ValueError("--prompts and --benchmark go together (the file's schema is the benchmark's); "
                         "without both, the first run folder's held-out conversations are the prompts")
    if prompts_path is not None:
        from nemo_drift.eval.benchmarks import read_prompts

        prompts = [(p.key, [dict(m) for m in p.messages]) for p in read_prompts(str(benchmark), prompts_path)]
        source = prompts_path
    else:
        if run_dir is None or is_hf_folder(Path(run_dir)):
            raise ValueError("no prompts: give --prompts FILE --benchmark NAME, or make the first method a run "
                             "folder (its held-out conversations are the default prompts)")
        prompts = heldout_contexts(Path(run_dir))
        source = f"{run_dir} (held-out DSAT conversations)"
    if not prompts:
        raise ValueError(f"{source}: no prompts to sample (data.heldout_fraction 0?); give --prompts FILE "
                         "--benchmark NAME")
    return prompts[:count]
