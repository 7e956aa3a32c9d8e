"""`nemo-drift prepare`: read the input, write typed records, rejects and a summary into a folder.

Output (each file written atomically):
  dsat.jsonl        DsatExample   (split "train" | "heldout")
  sat.jsonl         SatExample    (the SPIN catalogue)
  seed_pairs.jsonl  SeedPair      (warm start: from the conversations, every split, or from
                                   `data.seed_source` when that is set)
  heldout.jsonl     HeldOutPrompt (contexts of held-out DSAT/SAT records, for evaluation)
  rejects.jsonl     Reject        (every unusable row with its reason)
  summary.json      PrepareSummary
The whole input streams through once; memory holds only the duplicate index (two short keys per
conversation), so the 1.6 GB WildFeedback file is fine.
"""
from __future__ import annotations

import time
from pathlib import Path

from nemo_drift.config.data import DataConfig
from nemo_drift.data.extract import Extracted, extract_conversation, extract_pair
from nemo_drift.data.formats import FORMATS, Conversation, SourcePair, detect_format
from nemo_drift.data.formats.common import content_id
from nemo_drift.data.records import HeldOutPrompt, JsonlWriter, Reject, write_json
from nemo_drift.data.rows import CountedRows, first_value, iter_rows, resolve_source
from nemo_drift.data.seed_source import SeedPairStream, read_seed_pairs
from nemo_drift.data.split import HELDOUT, split_of
from nemo_drift.data.summary import PrepareSummary

OUTPUT_FILES = ("dsat.jsonl", "sat.jsonl", "seed_pairs.jsonl", "heldout.jsonl", "rejects.jsonl")


class _Writers:
    """The five JSONL outputs, opened together and committed together."""

    def __init__(self, out_dir: Path):
        self._all = {name: JsonlWriter(out_dir / name) for name in OUTPUT_FILES}
        self.dsat, self.sat, self.seed, self.heldout, self.rejects = self._all.values()

    def __enter__(self) -> "_Writers":
        for writer in self._all.values():
            writer.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for writer in self._all.values():
            writer.__exit__(*exc)


class _Preparer:
    """Routes parsed items to the writers and keeps the summary's counts."""

    def __init__(self, cfg: DataConfig, out: _Writers, summary: PrepareSummary):
        self.cfg, self.out, self.summary = cfg, out, summary
        self.seen: dict[str, tuple[str, int | None]] = {}  # id or content key -> first (file, row)

    def reject(self, rej: Reject) -> None:
        self.out.rejects.write(rej)
        self.summary.rows_rejected += rej.n_rows
        self.summary.rejects_by_reason[rej.reason] += 1
        if rej.n_rows:
            self.summary.conversations_rejected += 1
        if rej.reason == "json_syntax_error" and rej.n_rows == 0:
            self.summary.unreadable_tails += 1

    def _duplicate_of(self, item: Conversation | SourcePair) -> tuple[str, int | None] | None:
        if isinstance(item, Conversation):
            key = content_id(item.messages)
        else:
            key = content_id(item.context, item.rejected, item.chosen)
        for k in (f"id:{item.id}", f"content:{key}"):
            if k in self.seen:
                return self.seen[k]
        here = (item.provenance.source_file, item.provenance.row)
        self.seen[f"id:{item.id}"] = self.seen[f"content:{key}"] = here
        return None

    def take(self, item: Conversation | SourcePair | Reject) -> None:
        """Account for one parsed item and write what it yields."""
        if item.n_rows:  # a syntax-error marker (0 rows) is no conversation
            self.summary.conversations_read += 1
        if isinstance(item, Reject):
            self.reject(item)
            return
        first = self._duplicate_of(item)
        if first is not None:
            p = item.provenance
            self.reject(Reject(p.source_file, p.row, item.id, "duplicate_conversation",
                               f"same id or content as {first[0]} row {first[1]}", item.snippet, item.n_rows))
            return
        split = split_of(item.id, self.cfg.heldout_fraction, self.cfg.seed)
        extract = extract_conversation if isinstance(item, Conversation) else extract_pair
        result = extract(item, split)
        if isinstance(result, Reject):
            self.reject(result)
            return
        self.use(item, result)

    def take_seed_file(self, stream: SeedPairStream) -> None:
        """Every row of `data.seed_source`: its seed pair, or its reject (counted apart from `source`'s rows)."""
        s = self.summary
        for item in stream:
            if isinstance(item, Reject):
                self.out.rejects.write(item)
                s.seed_rows_rejected += item.n_rows
                s.rejects_by_reason[f"seed_source:{item.reason}"] += 1
            else:
                self.out.seed.write(item)
                s.seed += 1
        s.seed_rows_in = stream.rows_in

    def use(self, item: Conversation | SourcePair, result: Extracted) -> None:
        s = self.summary
        s.conversations_used += 1
        s.rows_used += item.n_rows
        s.conversations_unlabelled += not (result.dsat or result.sat)
        for ex in result.dsat:
            self.out.dsat.write(ex)
        for ex in result.sat:
            self.out.sat.write(ex)
        if not self.cfg.seed_source:
            for seed in result.seeds:
                self.out.seed.write(seed)
            s.seed += len(result.seeds)
            s.seed_heldout += sum(seed.split == HELDOUT for seed in result.seeds)
        for ex in [*result.dsat, *result.sat]:
            if ex.split == HELDOUT:
                self.out.heldout.write(HeldOutPrompt(ex.id, ex.context, ex.provenance))
                s.heldout_prompts += 1
        s.dsat += len(result.dsat)
        s.sat += len(result.sat)
        s.dsat_without_feedback += sum(not ex.feedback.strip() for ex in result.dsat)
        s.sat_from_chosen += len(result.sat) if isinstance(item, SourcePair) else 0
        s.dsat_heldout += sum(ex.split == HELDOUT for ex in result.dsat)
        s.sat_heldout += sum(ex.split == HELDOUT for ex in result.sat)


def prepare(cfg: DataConfig, out_dir: Path) -> PrepareSummary:
    """Read ``cfg.source``, write the records into ``out_dir``, and return the summary.

    Raises ValueError for a bad config or an input whose format cannot be recognised; bad rows
    never raise, they go to rejects.jsonl.
    """
    problems = cfg.validate()
    if problems:
        raise ValueError("invalid data config:\n  " + "\n  ".join(problems))
    started = time.perf_counter()
    out_dir = Path(out_dir)
    inputs = resolve_source(cfg.source)
    seed_stream = read_seed_pairs(cfg.seed_source, cfg.reject_snippet_chars) if cfg.seed_source else None
    summary = PrepareSummary(source=cfg.source, seed_source=cfg.seed_source)
    for source in inputs:  # detect every format before writing anything
        fmt = cfg.format
        summary.formats[source] = fmt if fmt != "auto" else detect_format(first_value(source, cfg.hf_split), source)
    with _Writers(out_dir) as out:
        preparer = _Preparer(cfg, out, summary)
        for source, fmt in summary.formats.items():
            rows = CountedRows(iter_rows(source, cfg.hf_split, cfg.reject_snippet_chars))
            for item in FORMATS[fmt].parse(rows):
                preparer.take(item)
            summary.rows_in += rows.count
        if seed_stream is not None:
            preparer.take_seed_file(seed_stream)
    summary.seconds = round(time.perf_counter() - started, 3)
    write_json(out_dir / "summary.json", summary.to_dict())
    return summary
