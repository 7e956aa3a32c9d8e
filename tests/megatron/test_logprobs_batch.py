"""collate_pairs: layout [chosen; rejected], shifted labels, response-only loss mask, padding."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from nemo_drift.megatron.batch import collate_pairs, split_chosen_rejected


@dataclass
class P:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]


def test_layout_labels_mask():
    pairs = [P([1, 2, 3], [10, 11], [20]), P([4], [12, 13, 14], [21, 22])]
    b = collate_pairs(pairs, pad_id=0, seq_length=32, pad_to_multiple_of=8)
    assert b["tokens"].shape == (4, 8)
    assert b["tokens"][0, :5].tolist() == [1, 2, 3, 10, 11]       # chosen rows first
    assert b["tokens"][2, :4].tolist() == [1, 2, 3, 20]           # then rejected rows, same pair order
    assert b["tokens"][3, :3].tolist() == [4, 21, 22]
    assert torch.equal(b["labels"][:, :-1], b["tokens"][:, 1:])
    # mask marks label positions whose label is a response token
    assert b["loss_mask"][0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert b["loss_mask"][3].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    masked_labels = b["labels"][0][b["loss_mask"][0].bool()].tolist()
    assert masked_labels == [10, 11]
    assert b["position_ids"][1].tolist() == list(range(8))
    chosen, rejected = split_chosen_rejected(b["loss_mask"].sum(1))
    assert chosen.tolist() == [2, 3] and rejected.tolist() == [1, 2]


def test_truncates_response_and_rejects_long_prompt():
    b = collate_pairs([P([1, 2], list(range(10, 30)), [5])], pad_id=0, seq_length=8)
    assert b["tokens"].shape == (2, 8)
    assert b["loss_mask"][0].sum().item() == 6  # 6 response tokens fit after the 2 prompt tokens
    with pytest.raises(ValueError, match="model.seq_length"):
        collate_pairs([P(list(range(8)), [1], [2])], pad_id=0, seq_length=8)
