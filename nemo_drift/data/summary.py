"""The account `prepare` gives of its input: what was read, what it became, what was rejected and why."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nemo_drift.data.formats.annotation import NAME as ANNOTATION_FORMAT

PAPER_COUNTS: dict[str, tuple[str, int]] = {
    "dsat": ("DSAT", 10_632),
    "sat": ("SAT", 4_478),
    "seed": ("seed pairs", 491),
}
"""WildFeedback as the DRIFT paper counts it (its data description: of 88,920 unique conversations,
10,632 (11.96%) carry DSAT, 4,478 (5.04%) SAT, and 491 (0.55%) give DSAT->SAT seed pairs; recorded in
docs/paper-reference.md, Method: "Data"). Keyed by the `PrepareSummary` field compared with it."""

PAPER_NOTE = ("ours count records (one per labelled turn, held-out conversations included, as are their seed "
              "pairs); the paper's DSAT and SAT count conversations")


@dataclass
class PrepareSummary:
    """Counts of one `prepare` run; `check()` proves nothing was lost (rows in = used + rejected)."""

    source: str
    seed_source: str = ""
    """`data.seed_source`: the seed-pairs file used instead of the conversations' seed pairs ("" = none)."""
    formats: dict[str, str] = field(default_factory=dict)
    """Input file (or hf:<name>) -> format it was read as."""
    rows_in: int = 0
    """Raw rows the row sources yielded (array items, JSONL lines, dataset rows)."""
    rows_used: int = 0
    """Rows of conversations/pairs that were accepted (whether or not they had labels)."""
    rows_rejected: int = 0
    """Rows covered by entries of rejects.jsonl."""
    conversations_read: int = 0
    """Conversations (or pairs, for pair formats) formed from the rows."""
    conversations_used: int = 0
    conversations_rejected: int = 0
    conversations_unlabelled: int = 0
    """Accepted conversations without any SAT/DSAT label (they yield no record)."""
    dsat: int = 0
    """DSAT records, held-out ones included (`dsat_heldout` of them)."""
    dsat_heldout: int = 0
    dsat_without_feedback: int = 0
    """DSAT records with no user feedback turn: DRIFT samples their chosen side from the context alone."""
    sat: int = 0
    """SAT records, held-out ones included (`sat_heldout` of them)."""
    sat_heldout: int = 0
    sat_from_chosen: int = 0
    """SAT records that are a pair dataset's `chosen` reply rather than a turn a user was satisfied with."""
    seed: int = 0
    """Seed pairs in seed_pairs.jsonl: from `seed_source`, or from conversations of every split."""
    seed_heldout: int = 0
    """Seed pairs from held-out conversations (they train the warm start unless method.warm_start_seeds=train)."""
    seed_rows_in: int = 0
    """Rows read from `seed_source` (= `seed` + `seed_rows_rejected` when the counts add up)."""
    seed_rows_rejected: int = 0
    heldout_prompts: int = 0
    unreadable_tails: int = 0
    """Files whose end could not be parsed (JSON syntax error): rows after it are not counted."""
    rejects_by_reason: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def paper_comparison(self) -> dict[str, dict[str, int]]:
        """`PAPER_COUNTS` field -> {ours, paper, difference (ours - paper)} when every input was read as
        WildFeedback's sat_dsat_annotation format (the file the paper counts); empty for any other input,
        and for the excerpts shipped as `sample:` files (50 conversations: no reproduction to check)."""
        if self.source.startswith("sample:"):
            return {}
        if not self.formats or set(self.formats.values()) != {ANNOTATION_FORMAT}:
            return {}
        return {key: {"ours": getattr(self, key), "paper": paper, "difference": getattr(self, key) - paper}
                for key, (_, paper) in PAPER_COUNTS.items()}

    def _paper_lines(self) -> list[str]:
        comparison = self.paper_comparison()
        if not comparison:
            return []
        lines = ["paper          WildFeedback counts of the DRIFT paper vs ours (docs/paper-reference.md)"]
        for key, row in comparison.items():
            share = f"{row['difference'] / row['paper']:+.1%}"
            lines.append(f"  {PAPER_COUNTS[key][0]:<12} ours {row['ours']:,}  paper {row['paper']:,}  "
                         f"difference {row['difference']:+,} ({share})")
        return lines + [f"  note         {PAPER_NOTE}"]

    def data_notes(self) -> list[str]:
        """Plain sentences on where the data makes a method differ from the paper's WildFeedback setting."""
        fmts = ", ".join(sorted(set(self.formats.values()))) or "-"
        notes = []
        if self.dsat_without_feedback:
            notes.append(f"{self.dsat_without_feedback:,} of {self.dsat:,} DSAT records have no user feedback turn "
                         f"({fmts}): DRIFT samples their chosen reply from the context alone (unguided), and "
                         "IterDPO ranks two such samples with method.reward_model")
        if self.sat_from_chosen:
            notes.append(f"{self.sat_from_chosen:,} of {self.sat:,} SAT records are the dataset's chosen reply "
                         f"({fmts}), not a turn a user was satisfied with: SPIN trains towards them as if they were")
        return notes

    def check(self) -> list[str]:
        """Empty when the counts add up; else one message per mismatch."""
        problems = []
        if self.seed_source and self.seed_rows_in != self.seed + self.seed_rows_rejected:
            problems.append(f"seed rows: {self.seed_rows_in} read from {self.seed_source} != {self.seed} seed pairs "
                            f"+ {self.seed_rows_rejected} rejected")
        if self.rows_in != self.rows_used + self.rows_rejected:
            problems.append(f"rows: {self.rows_in} read != {self.rows_used} used + {self.rows_rejected} rejected")
        if self.conversations_read != self.conversations_used + self.conversations_rejected:
            problems.append(
                f"conversations: {self.conversations_read} read != {self.conversations_used} used "
                f"+ {self.conversations_rejected} rejected"
            )
        return problems

    def to_dict(self) -> dict:
        """JSON-ready form, for summary.json."""
        data = {k: v for k, v in self.__dict__.items() if k != "rejects_by_reason"}
        data["rejects_by_reason"] = dict(sorted(self.rejects_by_reason.items()))
        data["counts_add_up"] = not self.check()
        data["paper_comparison"] = self.paper_comparison()
        data["notes"] = self.data_notes()
        return data

    def format_table(self) -> str:
        """A few aligned lines for the console."""
        verdict = "counts add up" if not self.check() else "COUNTS DO NOT ADD UP: " + "; ".join(self.check())
        fmts = ", ".join(sorted(set(self.formats.values()))) or "-"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.rejects_by_reason.items())) or "none"
        lines = [
            f"source         {self.source} ({fmts}, {len(self.formats)} input(s), {self.seconds:.1f}s)",
            f"rows           read {self.rows_in:,}  used {self.rows_used:,}  rejected {self.rows_rejected:,}",
            f"conversations  read {self.conversations_read:,}  used {self.conversations_used:,} "
            f"({self.conversations_unlabelled:,} unlabelled)  rejected {self.conversations_rejected:,}",
            f"records        DSAT {self.dsat:,} ({self.dsat_heldout:,} held out)  SAT {self.sat:,} "
            f"({self.sat_heldout:,} held out)  held-out prompts {self.heldout_prompts:,}",
            self._seed_line(),
            f"rejects        {reasons}",
            f"check          {verdict}",
        ]
        if self.unreadable_tails:
            lines.append(f"warning        {self.unreadable_tails} file(s) cut short by a JSON syntax error (see rejects)")
        lines += [f"note           {note}" for note in self.data_notes()]
        return "\n".join(lines + self._paper_lines())

    def _seed_line(self) -> str:
        if self.seed_source:
            return (f"seed pairs     {self.seed:,} from data.seed_source {self.seed_source} "
                    f"({self.seed_rows_in:,} rows, {self.seed_rows_rejected:,} rejected)")
        return (f"seed pairs     {self.seed:,} from the conversations ({self.seed_heldout:,} of them from held-out "
                "conversations)")
