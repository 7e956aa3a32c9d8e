"""Pairwise LLM-as-judge run locally: each policy's benchmark replies against a baseline's, prompt by prompt.

Input is what `nemo-drift eval export` wrote: one evaluator file per policy, all for the same prompts. A
local instruct model (the judge) reads the conversation and two replies through its own chat template and
names the better one, "A" or "B", sampled greedily by the run's sampler (vLLM in the generation
environment). Every prompt is judged in both orders, the candidate first as A then as B, so a judge that
favours a position cancels out: the prompt's score is the mean of the two verdicts (win 1, loss 0, an answer
that names neither 0.5), one of 0, .25, .5, .75, 1. Per candidate: the win rate over the baseline with its
95% interval, the unparseable verdicts, the share of prompts whose two orders agree, and on AlpacaEval the
length-controlled win rate (nemo_drift/eval/length_controlled.py).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from nemo_drift.eval.benchmarks import BenchmarkPrompt
from nemo_drift.eval.length_controlled import length_controlled_win_rate
from nemo_drift.eval.reward_judge import read_replies
from nemo_drift.eval.stats import Estimate

if TYPE_CHECKING:
    from nemo_drift.config.schema import DriftConfig

JUDGE_TEMPLATE = """You are judging two assistant replies to the same conversation.

Pick the reply that serves the user better: it does what the last user message asks, it is correct, clear and \
useful, and it is not padded. Judge what the replies say, not how long they are or which one comes first.

# Conversation
{conversation}

# Reply A
{reply_a}

# Reply B
{reply_b}

Which reply is better? Answer with one letter only: A or B."""
"""The judge's instruction. Written for nemo-drift in the spirit of AlpacaEval 2's ranking prompt (the judge
sees the instruction and two outputs and names the better one with a single token), not a copy of it."""

JUDGE_MAX_TOKENS = 4
"""New tokens a verdict may take: the letter, and room for markup such as "**A**"."""

_VERDICT = re.compile(r"^[\s*_`\"'(\[]*(?:(?:output|reply|response|answer)\s*[:\-]?\s*[(\[]?\s*)?([ab])(?![a-z0-9])",
                      re.IGNORECASE)


@dataclass(frozen=True)
class JudgeQuery:
    """One question to the judge: a conversation and the two replies in the order shown."""

    messages: list[dict[str, str]]
    reply_a: str
    reply_b: str


JudgeFn = Callable[[Sequence[JudgeQuery]], list[str]]
"""The judge: its raw answer to each query, in order (a vLLM model in `VllmJudge`, a stub in tests)."""


def judge_messages(query: JudgeQuery) -> list[dict[str, str]]:
    """The chat the judge model answers: one user turn holding the template filled in."""
    conversation = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in query.messages)
    return [{"role": "user", "content": JUDGE_TEMPLATE.format(conversation=conversation, reply_a=query.reply_a,
                                                              reply_b=query.reply_b)}]


def parse_verdict(text: str) -> str | None:
    """"A" or "B" when the answer's first word names a reply (any case; "**A**", "A.", "Output (a)", "Reply B"
    too); None otherwise."""
    match = _VERDICT.match(text)
    return match.group(1).upper() if match else None


def prompt_score(candidate_as_a: str | None, candidate_as_b: str | None) -> float:
    """The candidate's score on one prompt from the verdicts of both orders: the mean of win 1, loss 0 and
    0.5 for a verdict that names no reply."""
    first = {"A": 1.0, "B": 0.0}.get(candidate_as_a or "", 0.5)
    second = {"B": 1.0, "A": 0.0}.get(candidate_as_b or "", 0.5)
    return (first + second) / 2


@dataclass
class JudgeResult:
    """One candidate's figures against the baseline."""

    name: str
    baseline: str
    win_rate: Estimate
    """Mean over prompts of the both-order score (a tie or an undecided pair counts half)."""
    undecided: int
    """Verdicts that named neither reply, out of 2 per prompt."""
    consistency: float | None
    """Share of prompts whose two orders name the same reply (a judge that always answers "A" scores 0)."""
    lc_win_rate: float | None = None
    """AlpacaEval's length-controlled win rate of the same preferences; None with `lc_note` saying why."""
    lc_note: str = ""
    scores: list[float] = field(default_factory=list, repr=False)
    """Per-prompt scores, in prompt order."""

    @property
    def n(self) -> int:
        return self.win_rate.n

    def interval(self) -> tuple[float, float] | None:
        """95% normal-approximation interval of the win rate, within [0, 1]."""
        return self.win_rate.interval(bounds=(0.0, 1.0))


def judge_queries(prompts: Sequence[BenchmarkPrompt], candidate: Sequence[str],
                  baseline: Sequence[str]) -> list[JudgeQuery]:
    """Two queries per prompt, candidate first as A then as B: [p0 as A, p0 as B, p1 as A, ...]."""
    return [query for p, mine, theirs in zip(prompts, candidate, baseline)
            for query in (JudgeQuery(p.messages, mine, theirs), JudgeQuery(p.messages, theirs, mine))]


def score_candidates(prompts: Sequence[BenchmarkPrompt], candidates: dict[str, Sequence[str]],
                     baseline: tuple[str, Sequence[str]], judge: JudgeFn) -> tuple[list[JudgeResult], list[dict]]:
    """Judge every candidate against the baseline in both orders with one call of `judge`; the results and
    one record per (candidate, prompt) with both raw answers and verdicts."""
    base_name, base_replies = baseline
    queries = [q for replies in candidates.values() for q in judge_queries(prompts, replies, base_replies)]
    answers = judge(queries)
    if len(answers) != len(queries):
        raise RuntimeError(f"the judge answered {len(answers)} of {len(queries)} queries")
    results, records = [], []
    for c, name in enumerate(candidates):
        offset = 2 * c * len(prompts)
        scores, undecided, agree = [], 0, 0
        for i, prompt in enumerate(prompts):
            as_a, as_b = answers[offset + 2 * i], answers[offset + 2 * i + 1]
            verdict_a, verdict_b = parse_verdict(as_a), parse_verdict(as_b)
            scores.append(prompt_score(verdict_a, verdict_b))
            undecided += (verdict_a is None) + (verdict_b is None)
            agree += verdict_a is not None and verdict_b is not None and verdict_a != verdict_b
            records.append({"candidate": name, "key": prompt.key, "answer_candidate_as_a": as_a,
                            "answer_candidate_as_b": as_b, "verdict_candidate_as_a": verdict_a,
                            "verdict_candidate_as_b": verdict_b, "score": scores[-1]})
        results.append(JudgeResult(name, base_name, Estimate.of(scores), undecided,
                                   agree / len(prompts) if prompts else None, scores=scores))
    return results, records


def add_length_control(results: Sequence[JudgeResult], benchmark: str, prompts: Sequence[BenchmarkPrompt],
                       candidates: dict[str, Sequence[str]], baseline: tuple[str, Sequence[str]],
                       annotator: str) -> None:
    """Fill each result's `lc_win_rate` (or `lc_note`) through alpaca-eval's GLM."""
    keys = [p.key for p in prompts]
    for result in results:
        lc = length_controlled_win_rate(benchmark, keys, baseline, (result.name, candidates[result.name]),
                                        result.scores, annotator)
        result.lc_win_rate, result.lc_note = lc.win_rate, lc.note


class VllmJudge:
    """A local judge model sampled by `generation.generate` (vLLM in the generation environment), greedily,
    through the judge's own chat template; finished shards in `work_dir` are reused by a rerun."""

    def __init__(self, cfg: "DriftConfig", judge_dir: Path, work_dir: Path, max_tokens: int = JUDGE_MAX_TOKENS):
        if not (Path(judge_dir) / "config.json").is_file():
            raise ValueError(f"--judge-model {judge_dir}: not a Hugging Face model folder (no config.json)")
        from transformers import AutoConfig, AutoTokenizer

        self.judge_dir, self.work_dir = Path(judge_dir), Path(work_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(str(judge_dir))
        self.context = getattr(AutoConfig.from_pretrained(str(judge_dir)), "max_position_embeddings", None)
        gen = cfg.generation
        self.sampling = dataclasses.replace(
            gen, n=1, temperature=0.0, top_p=1.0, max_tokens=max_tokens,
            dtype=gen.dtype if gen.dtype != "auto" else cfg.model.vllm_dtype(cfg.cluster.on_gpu))

    def render(self, queries: Sequence[JudgeQuery]) -> list[str]:
        """The judge's prompts; ValueError naming the query when one does not fit the judge's context."""
        from nemo_drift.data.fit import count_tokens, render_prompt

        texts = [render_prompt(self.tokenizer, judge_messages(q)) for q in queries]
        if self.context:
            for number, text in enumerate(texts, start=1):
                tokens = count_tokens(self.tokenizer, text)
                if tokens + self.sampling.max_tokens > self.context:
                    raise ValueError(f"judge query {number}: {tokens} prompt tokens; --judge-model {self.judge_dir} "
                                     f"reads at most {self.context} (pick a judge with a longer context)")
        return texts

    def __call__(self, queries: Sequence[JudgeQuery]) -> list[str]:
        from nemo_drift.generation.client import generate
        from nemo_drift.generation.records import SampleRequest

        requests = [SampleRequest(f"judge-{i:07d}", text) for i, text in enumerate(self.render(queries))]
        result = generate(requests, self.judge_dir, self.work_dir / "samples", self.sampling)
        answers = {s.prompt_id: s.text for s in result.samples}
        return [answers[r.prompt_id] for r in requests]


def read_judge_inputs(benchmark: str, prompts: Sequence[BenchmarkPrompt], outputs: Sequence[Path],
                      baseline: Path) -> tuple[dict[str, list[str]], tuple[str, list[str]]]:
    """The replies of each outputs file (named by its path; the baseline's own file is left out) and of the
    baseline; ValueError naming a file that does not answer these prompts."""
    base = (str(baseline), read_replies(benchmark, baseline, prompts))
    candidates = {str(path): read_replies(benchmark, path, prompts) for path in outputs if str(path) != base[0]}
    return candidates, base


def judge_files(cfg: "DriftConfig", benchmark: str, prompts: Sequence[BenchmarkPrompt],
                candidates: dict[str, list[str]], baseline: tuple[str, list[str]], judge_dir: Path,
                work_dir: Path, max_tokens: int = JUDGE_MAX_TOKENS) -> list[JudgeResult]:
    """Judge each candidate's replies against the baseline's with the local model `judge_dir`; samples and
    `verdicts.json` (every answer and verdict) go to `work_dir`. Bad input raises ValueError before any
    model loads."""
    candidates = {name: replies for name, replies in candidates.items() if name != baseline[0]}
    if not candidates:
        raise ValueError(f"no outputs to judge besides the baseline {baseline[0]}: give at least one more file")
    for name, replies in [*candidates.items(), baseline]:
        if len(replies) != len(prompts):
            raise ValueError(f"{name}: {len(replies)} replies for {len(prompts)} prompts ({benchmark})")
    judge = VllmJudge(cfg, judge_dir, work_dir, max_tokens)
    results, records = score_candidates(prompts, candidates, baseline, judge)
    _write_verdicts(Path(work_dir) / "verdicts.json", judge_dir, records)
    add_length_control(results, benchmark, prompts, candidates, baseline, str(judge_dir))
    return results


def _write_verdicts(path: Path, judge_dir: Path, records: list[dict]) -> None:
    from nemo_drift.data.jsonl import atomic_text

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path) as handle:
        json.dump({"judge": str(judge_dir), "template": JUDGE_TEMPLATE, "pairs": records}, handle, indent=1,
                  ensure_ascii=False)
        handle.write("\n")


def format_results(results: Sequence[JudgeResult]) -> str:
    """A Markdown table per candidate: win rate over the baseline with its 95% interval, LC win rate, prompts,
    undecided verdicts and order consistency; the reasons LC is missing follow the table."""
    baseline = results[0].baseline if results else "the baseline"
    lines = [f"| outputs | win rate over {baseline} | 95% interval | LC win rate | prompts | undecided verdicts "
             "| both orders agree |", "|---|---|---|---|---|---|---|"]
    for r in results:
        win = "-" if r.win_rate.mean is None else f"{r.win_rate.mean:.3f}"
        interval = r.interval()
        lines.append(f"| {r.name} | {win} | {'-' if interval is None else f'{interval[0]:.3f}-{interval[1]:.3f}'} | "
                     f"{'-' if r.lc_win_rate is None else f'{r.lc_win_rate:.3f}'} | {r.n} | {r.undecided}/{2 * r.n} | "
                     f"{'-' if r.consistency is None else f'{r.consistency:.0%}'} |")
    notes = list(dict.fromkeys(r.lc_note for r in results if r.lc_note))
    return "\n".join(lines + [""] * bool(notes) + [f"LC: {note}" for note in notes])
