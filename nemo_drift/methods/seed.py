"""Warm start: the seed DSAT->SAT pairs found in the data become DPO pairs as they are."""
from __future__ import annotations

from typing import Sequence

from nemo_drift.data.records import PreferencePair, SeedPair


def warm_start_pairs(seeds: Sequence[SeedPair], which: str = "all") -> list[PreferencePair]:
    """prompt = context before the DSAT reply, chosen = the revision the user accepted, rejected = DSAT;
    for every seed pair (``which`` "all") or those of training-split conversations ("train")."""
    return [PreferencePair(id=s.id, prompt=list(s.prompt), chosen=s.chosen, rejected=s.rejected, origin="seed")
            for s in seeds if which == "all" or s.split == "train"]
