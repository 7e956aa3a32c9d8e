"""Megatron side of nemo-drift: the only package that imports megatron.*.

Modules (import them directly; nothing is imported eagerly here, so `import nemo_drift.megatron` stays cheap):
- bridge: AutoBridge import (with a temporary transformer_engine stub when TE is absent)
- attention, layer_spec: torch-SDPA core attention and the TE-or-local layer spec choice
- model: build_model(hf_path, ModelConfig) -> BuiltModel (chunks, bridge, provider, tokenizer_path)
- batch: collate_pairs -> [chosen; rejected] batch; logprobs: token/sequence log-probs, forward step
- checkpoint: dist_checkpointing save/load (model, optimizer, extra state), reshardable across TP/PP
- losses, optimizer, schedule, trainer, reference: DPO training on top of the above
"""
