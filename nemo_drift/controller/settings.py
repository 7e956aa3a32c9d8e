"""Which settings each stage depends on. A completed stage is redone only when one of these changed
(and the user asked for it), so tweaking, say, `trainer.lr` never throws away generated samples."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from nemo_drift.config.schema import DriftConfig

# group.key prefixes (a group name alone means the whole group) per stage.
_DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "prepare": ("data.source", "data.format", "data.hf_split", "data.heldout_fraction", "data.seed"),
    "import": ("model.hf_path",),
    "export": (),
    "parity": ("generation.max_tokens",),
    "generate": ("method.name", "method.guided", "method.max_examples", "data.guided_instruction", "data.max_prompt_length",
                 "data.overlength", "generation.n", "generation.temperature", "generation.top_p",
                 "generation.max_tokens", "generation.seed"),
    "pairs": ("method.name", "method.guided", "method.max_examples", "method.reward_model", "generation.on_empty",
              "generation.on_truncated", "data.max_length", "data.max_prompt_length", "data.overlength"),
    "reference": ("trainer.reference_model", "model.seq_length", "trainer.length_normalize"),
    "train": ("trainer.loss", "trainer.beta", "trainer.rpo_alpha", "trainer.length_normalize", "trainer.optimizer",
              "trainer.lr", "trainer.weight_decay", "trainer.rmsprop_alpha", "trainer.eps", "trainer.adam_beta1",
              "trainer.adam_beta2", "trainer.clip_grad", "trainer.warmup_ratio", "trainer.micro_batch_size",
              "trainer.global_batch_size", "trainer.epochs", "trainer.max_steps", "trainer.seed",
              "trainer.reference", "trainer.reference_model", "model.seq_length", "method.warm_start_epochs"),
}


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def stage_settings(cfg: DriftConfig, stage: str, iteration: int) -> dict[str, Any]:
    """The flattened `group.key -> value` settings `stage` depends on."""
    flat = _flatten(asdict(cfg))
    wanted = _DEPENDS_ON[stage]
    settings = {k: v for k, v in flat.items() if any(k == w or k.startswith(w + ".") for w in wanted)}
    if iteration == 0:  # the warm start trains on the seed pairs, whatever the method and its samples
        settings = {k: v for k, v in settings.items()
                    if not k.startswith(("method.", "generation.")) or k == "method.warm_start_epochs"}
        settings.pop("trainer.epochs", None)
    else:
        settings.pop("method.warm_start_epochs", None)
    return settings
