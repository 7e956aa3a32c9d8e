"""Data-layer throughput: reading/extracting `sat_dsat_annotation`, and DPO tokenization.

    .venv/train/bin/python bench/bench_data.py [--utterances 1000000] [--pairs 4096]

Prints rows/s for three depths of the read path on a generated file (rows only; rows grouped into
conversations; full `prepare` with extraction and JSONL writing), and pairs/s and tokens/s for
`tokenize_pairs` with a real tokenizer (plus the batch-vs-loop encode ratio that motivates the
batch API). Figures go into bench/README.md. Not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))  # developer tools are scripts, not an installed package

from nemo_drift.config.data import DataConfig  # noqa: E402
from nemo_drift.data.formats import FORMATS  # noqa: E402
from nemo_drift.data.prepare import prepare  # noqa: E402
from nemo_drift.data.records import DsatExample, PreferencePair, read_jsonl  # noqa: E402
from nemo_drift.data.rows import iter_rows  # noqa: E402
from synthetic_annotation import write_annotation_file  # noqa: E402


def _timed(label: str, n: int, unit: str, fn) -> float:
    """Run ``fn`` once; print the rate per wall second and per CPU second of this process (the
    second is the fairer figure on a shared machine; tokenizers may use more than one thread)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    fn()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{label:<42} {n / seconds:>12,.0f} {unit}/s wall  {n / cpu:>12,.0f} {unit}/CPU-s"
          f"   ({seconds:.1f} s wall, {cpu:.1f} s CPU)")
    return seconds


def bench_read(utterances: int, work: Path) -> None:
    path = work / "annotation.json"
    rows = write_annotation_file(path, utterances=utterances)
    print(f"generated {rows:,} utterances, {path.stat().st_size / 2**20:.0f} MiB: {path}")
    parse = FORMATS["sat_dsat_annotation"].parse
    _timed("read rows (ijson C backend, UTF-8 guard)", rows, "rows", lambda: sum(1 for _ in iter_rows(str(path))))
    _timed("read + group into conversations", rows, "rows", lambda: sum(1 for _ in parse(iter_rows(str(path)))))
    out = work / "prepared"
    _timed("prepare: read + extract + write records", rows, "rows",
           lambda: prepare(DataConfig(source=str(path)), out))
    sizes = sum(p.stat().st_size for p in out.iterdir())
    print(f"{'':<42} records written: {sizes / 2**20:.0f} MiB in {out}")


def bench_tokenize(tokenizer_path: Path, n_pairs: int, work: Path) -> None:
    from transformers import AutoTokenizer

    from nemo_drift.data.tokenize import tokenize_pairs

    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    prepare(DataConfig(), work / "sample")
    dsat = read_jsonl(work / "sample" / "dsat.jsonl", DsatExample)
    pairs = [PreferencePair(f"p{i}", d.context, d.rejected[::-1] + " " + d.feedback, d.rejected, "bench")
             for i, d in enumerate(dsat * (n_pairs // len(dsat) + 1))][:n_pairs]
    result: list = []
    seconds = _timed(f"tokenize_pairs ({tokenizer_path.name})", n_pairs, "pairs",
                     lambda: result.extend(tokenize_pairs(tok, pairs, 2048, 1024)[0]))
    tokens = sum(len(t.prompt_ids) + len(t.chosen_ids) + len(t.rejected_ids) for t in result)
    print(f"{'':<42} {tokens / seconds:>12,.0f} tokens/s   ({tokens / n_pairs:.0f} tokens per pair)")
    texts = [tok.apply_chat_template(p.prompt, tokenize=False, add_generation_prompt=True) for p in pairs]
    batch = _timed("  encode prompts, batch API", n_pairs, "texts", lambda: tok(texts, add_special_tokens=False))
    loop = _timed("  encode prompts, one call per text", n_pairs, "texts",
                  lambda: [tok(t, add_special_tokens=False) for t in texts])
    _timed("  render chat templates (jinja)", n_pairs, "prompts",
           lambda: [tok.apply_chat_template(p.prompt, tokenize=False, add_generation_prompt=True) for p in pairs])
    print(f"{'':<42} batch API speed-up over the loop: {loop / batch:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=4096)
    parser.add_argument("--tokenizer", type=Path, default=REPO / ".cache" / "models" / "smollm2-135m-instruct")
    parser.add_argument("--skip-tokenize", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    work = Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        bench_read(args.utterances, work)
        if not args.skip_tokenize:
            bench_tokenize(args.tokenizer, args.pairs, work)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
