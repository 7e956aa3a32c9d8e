"""collate_packed against collate_pairs: the same per-sequence sums from one packed row as from the
padded [2B, S] batch (values and counts, exactly), the row's layout on a hand-built example, gradients
that reach exactly the scored positions, and the PackedSeqParams megatron's THD RoPE needs."""
from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch

from nemo_drift.data.packing import pack_pairs, pair_length
from nemo_drift.megatron.batch import collate_packed, collate_pairs, packed_seq_params, sequence_sums

PAD = 0


@dataclass
class Pair:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]


def _ids(rng: random.Random, n: int) -> list[int]:
    return [rng.randint(1, 99) for _ in range(n)]


def _random_pairs(seed: int, n: int, seq_length: int) -> list[Pair]:
    """n pairs of varied lengths, plus one whose chosen side is cut at seq_length and one with no prompt."""
    rng = random.Random(seed)
    pairs = [Pair(_ids(rng, rng.randint(1, seq_length // 2)), _ids(rng, rng.randint(0, seq_length)),
                  _ids(rng, rng.randint(1, seq_length // 3))) for _ in range(n)]
    pairs.insert(rng.randint(0, n), Pair(_ids(rng, 5), _ids(rng, 2 * seq_length), _ids(rng, 3)))
    pairs.insert(rng.randint(0, n), Pair([], _ids(rng, 7), _ids(rng, 4)))
    return pairs


def _fake_logps(batch: dict) -> torch.Tensor:
    """A deterministic 'log-prob' of (label token, position id); multiples of 1/64, so every sum in
    these tests is exact in fp32 whatever the summation order."""
    labels, positions = batch["labels"], batch["position_ids"]
    return -((labels % 13).float() / 8 + (positions % 17).float() / 64)


def _sums(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return sequence_sums(_fake_logps(batch), batch)


def test_packed_sums_equal_padded_sums():
    from nemo_drift.megatron.logprobs import sum_by_sequence

    seq_length = 24
    for seed in range(5):
        pairs = _random_pairs(seed, 6, seq_length)
        padded = collate_pairs(pairs, PAD, seq_length)
        packed = collate_packed(pairs, PAD, seq_length)
        want_sums, want_counts = _sums(padded)
        assert torch.equal(want_sums, sum_by_sequence(_fake_logps(padded), padded["loss_mask"])[0])
        got_sums, got_counts = _sums(packed)
        assert torch.equal(got_sums, want_sums) and torch.equal(got_counts, want_counts)
        assert packed["num_sequences"] == 2 * len(pairs)
        assert int(want_counts.sum()) > 0


def test_packed_sums_can_fail():
    pairs = _random_pairs(0, 6, 24)
    want_sums, _ = _sums(collate_pairs(pairs, PAD, 24))
    packed = collate_packed(pairs, PAD, 24)
    global_positions = dict(packed, position_ids=torch.arange(packed["tokens"].shape[1]).unsqueeze(0))
    got_sums, _ = _sums(global_positions)
    assert torch.equal(got_sums[:1], want_sums[:1])  # the first sequence starts at 0 either way
    assert not torch.equal(got_sums, want_sums)
    off_by_one = dict(packed, seq_index=packed["seq_index"].roll(1, dims=1))
    assert not torch.equal(_sums(off_by_one)[0], want_sums)


def test_pack_then_collate_rows_reproduce_every_pair():
    """pack_pairs + collate_packed at a fixed row width: each pair's sums come back at its slots."""
    seq_length, micro_batch = 24, 2
    capacity = micro_batch * 2 * seq_length
    for seed in range(5):
        pairs = _random_pairs(seed, 9, seq_length)
        n = len(pairs)
        want_sums, want_counts = _sums(collate_pairs(pairs, PAD, seq_length))
        lengths = [pair_length(len(p.prompt_ids), len(p.chosen_ids), len(p.rejected_ids), seq_length) for p in pairs]
        seen = []
        for row in pack_pairs(lengths, capacity):
            batch = collate_packed([pairs[i] for i in row], PAD, seq_length, row_length=capacity)
            assert batch["tokens"].shape == (1, capacity)
            assert int(batch["loss_mask"].sum()) + 2 * len(row) <= sum(lengths[i] for i in row)
            sums, counts = _sums(batch)
            b = len(row)
            where = torch.tensor(row + [n + i for i in row])  # slot k -> chosen, slot b + k -> rejected
            assert torch.equal(sums, want_sums[where]) and torch.equal(counts, want_counts[where])
            assert len(sums) == 2 * b
            seen += row
        assert sorted(seen) == list(range(n))


def _hand_pairs() -> list[Pair]:
    return [Pair([11, 12], [13, 14, 15], [16]), Pair([21], [22, 23], [24, 25, 26])]


def test_hand_built_row_layout():
    batch = collate_packed(_hand_pairs(), PAD, seq_length=8)  # 5 + 3 + 3 + 4 = 15 tokens -> W = 16
    #       chosen 0 ----------  chosen 1 --  rejected 0  rejected 1 ---  pad
    tokens = [11, 12, 13, 14, 15, 21, 22, 23, 11, 12, 16, 21, 24, 25, 26, PAD]
    assert batch["tokens"].tolist() == [tokens]
    assert batch["labels"].tolist() == [tokens[1:] + [PAD]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0]]
    assert batch["loss_mask"].tolist() == [[0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0]]
    assert batch["seq_index"].tolist() == [[-1, 0, 0, 0, -1, 1, 1, -1, -1, 2, -1, 3, 3, 3, -1, -1]]
    assert batch["cu_seqlens"].dtype == torch.int32
    assert batch["cu_seqlens"].tolist() == [0, 5, 8, 11, 15, 16]
    assert (batch["max_seqlen"], batch["num_sequences"]) == (5, 4)
    # each sequence's last label is the next segment's first token (positions 4, 7, 10, 14): never scored
    last = batch["cu_seqlens"][1:-1].long() - 1
    assert batch["labels"][0, last].tolist() == [21, 11, 21, PAD]
    assert batch["loss_mask"][0, last].tolist() == [0.0] * 4


@pytest.mark.parametrize("row_length, cu_seqlens, max_seqlen", [
    (15, [0, 5, 8, 11, 15], 5),  # exact fit: no padding segment
    (20, [0, 5, 8, 11, 15, 20], 5),
    (40, [0, 5, 8, 11, 15, 40], 25),  # the padding tail is the longest segment, still not the row
])
def test_fixed_row_length(row_length, cu_seqlens, max_seqlen):
    batch = collate_packed(_hand_pairs(), PAD, seq_length=8, row_length=row_length)
    assert batch["tokens"].shape == (1, row_length)
    assert batch["cu_seqlens"].tolist() == cu_seqlens
    assert batch["max_seqlen"] == max_seqlen
    assert batch["position_ids"][0, 15:].tolist() == [0] * (row_length - 15)


def test_row_length_too_small_names_the_numbers():
    with pytest.raises(ValueError, match="packed row needs 15 tokens but row_length is 14"):
        collate_packed(_hand_pairs(), PAD, seq_length=8, row_length=14)


def test_no_prompt_and_cut_follow_collate_pairs():
    pairs = [Pair([], [31, 32, 33], [34, 35]), Pair([41, 42], [43, 44, 45, 46, 47, 48, 49], [50])]
    packed = collate_packed(pairs, PAD, seq_length=6)
    padded = collate_pairs(pairs, PAD, seq_length=6)
    assert packed["cu_seqlens"].tolist() == [0, 3, 9, 11, 14, 16]  # pair 1's chosen cut to 6 tokens
    assert _sums(packed)[1].tolist() == _sums(padded)[1].tolist() == [2.0, 4.0, 1.0, 1.0]


def test_gradient_reaches_exactly_the_masked_positions():
    pairs = _random_pairs(3, 4, 16)
    weights = torch.arange(1.0, 2 * len(pairs) + 1)  # [2B]: a distinct weight per sequence
    for batch in (collate_packed(pairs, PAD, 16), collate_pairs(pairs, PAD, 16)):
        token_logps = torch.randn(batch["tokens"].shape, requires_grad=True)
        sums, _ = sequence_sums(token_logps, batch)
        (sums * weights).sum().backward()
        grad, mask = token_logps.grad, batch["loss_mask"]
        assert torch.equal(grad != 0, mask != 0)
        if "seq_index" in batch:
            want = torch.where(mask != 0, weights[batch["seq_index"].clamp(min=0)], 0.0)
        else:
            want = mask * weights.unsqueeze(1)
        assert torch.equal(grad, want)


def test_packed_seq_params_fields():
    assert packed_seq_params(collate_pairs(_hand_pairs(), PAD, 8)) is None
    batch = collate_packed(_hand_pairs(), PAD, seq_length=8)
    params = packed_seq_params(batch)
    assert params.qkv_format == "thd"
    assert params.cu_seqlens_q is params.cu_seqlens_kv
    assert params.cu_seqlens_q.dtype == torch.int32 and params.cu_seqlens_q.tolist() == [0, 5, 8, 11, 15, 16]
    assert params.cu_seqlens_q.device == batch["tokens"].device
    assert (params.max_seqlen_q, params.max_seqlen_kv) == (5, 5)
    assert params.cu_seqlens_q_padded is None and params.cu_seqlens_kv_padded is None


def test_megatron_thd_rope_follows_position_ids(dist_env):
    """megatron's THD RoPE with these params rotates each token by its position id; with a table as
    long as the row (the pitfall) it uses row-global offsets and does not."""
    from megatron.core.models.common.embeddings.rope_utils import _apply_rotary_pos_emb_bshd, apply_rotary_pos_emb
    from megatron.core.models.common.embeddings.rotary_pos_embedding import RotaryEmbedding
    from megatron.core.transformer import TransformerConfig

    config = TransformerConfig(num_layers=1, hidden_size=16, num_attention_heads=2, apply_rope_fusion=False)
    batch = collate_packed(_hand_pairs(), PAD, seq_length=8)
    params = packed_seq_params(batch)
    rope = RotaryEmbedding(kv_channels=8, rotary_percent=1.0, use_cpu_initialization=True)
    width, content = batch["tokens"].shape[1], int(params.cu_seqlens_q[-2])
    t = torch.randn(width, 2, 8)  # [tokens, heads, head_dim]
    by_position = _apply_rotary_pos_emb_bshd(t.unsqueeze(1), rope(width)[batch["position_ids"][0]]).squeeze(1)
    for table, should_match in ((params.max_seqlen_q, True), (width, False)):
        freqs = rope(table, packed_seq=True)  # [table, 1, 1, head_dim]
        got = apply_rotary_pos_emb(t, freqs, config, cu_seqlens=params.cu_seqlens_q)
        assert torch.allclose(got[:content], by_position[:content], atol=1e-6) is should_match
