"""Trainer settings for one DPO job: loss, optimizer, schedule, batching, reference, logging.

Defaults are the DRIFT paper's (docs/paper-reference.md): lr 5e-7, beta 0.1, RMSprop, linear schedule
with warmup 0.1, batch 4 per device, one epoch, seed 42; the official configs use RPO with alpha 0.001
on top of DPO, which `loss="rpo"` reproduces. `validate` returns one message per problem naming the
`trainer.<key>` to change, and is called before any work starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from nemo_drift.config.declare import setting

LossName = str  # "dpo" | "ipo" | "rpo" (OmegaConf has no Literal: checked in validate)
OptimizerName = str  # "rmsprop" | "adam"

_LOSSES = ("dpo", "ipo", "rpo")
_OPTIMIZERS = ("rmsprop", "adam")
_REFERENCE = ("precomputed", "in_loop")
_REFERENCE_MODEL = ("iteration_start", "base")
_WANDB_MODES = ("offline", "online", "disabled")

LENGTH_NORMALIZED_LOSSES = ("ipo",)
"""Losses defined on mean per-token log-probs whatever `length_normalize` says (TRL averages for IPO too)."""


@dataclass
class TrainerConfig:
    """Settings of the DPO training loop (one home per knob; see module docstring for provenance)."""

    loss: LossName = setting("dpo", invalidates=("train",))
    """Preference loss: "dpo" (sigmoid), "ipo" (Azar et al., length-averaged), "rpo" (DPO + alpha * chosen NLL)."""

    beta: float = setting(0.1, invalidates=("train",))
    """DPO temperature: scales the log-ratio difference (paper: 0.1)."""

    rpo_alpha: float = setting(0.001, invalidates=("train",))
    """Weight of the chosen-reply NLL in "rpo" (official DRIFT configs: 0.001); unused by other losses."""

    length_normalize: bool = setting(False, invalidates=("reference", "train"))
    """Use mean per-token log-probs instead of sums in DPO/RPO (IPO always length-normalises)."""

    optimizer: OptimizerName = setting("rmsprop", invalidates=("train",))
    """"rmsprop" (the paper's) or "adam" (AdamW-style decoupled weight decay)."""

    lr: float = setting(5e-7, invalidates=("train",))
    """Peak learning rate, reached after warmup (paper: 5e-7)."""

    weight_decay: float = setting(0.0, invalidates=("train",))
    """Weight decay (decoupled for adam, L2 for rmsprop as torch applies it)."""

    rmsprop_alpha: float = setting(0.99, invalidates=("train",))
    """RMSprop smoothing constant of the squared-gradient average (torch default 0.99)."""

    eps: float = setting(1e-8, invalidates=("train",))
    """Denominator epsilon of RMSprop / Adam."""

    adam_beta1: float = setting(0.9, invalidates=("train",))
    """Adam first-moment decay."""

    adam_beta2: float = setting(0.999, invalidates=("train",))
    """Adam second-moment decay."""

    clip_grad: float = setting(1.0, invalidates=("train",))
    """Clip the global (TP/PP/DP-aware) gradient L2 norm to this value; 0 disables clipping."""

    warmup_ratio: float = setting(0.1, invalidates=("train",))
    """Fraction of total optimizer steps spent warming the lr up linearly from 0 (paper: 0.1)."""

    micro_batch_size: int = setting(1, invalidates=("train",))
    """Pairs per micro-batch per data-parallel rank (one micro-batch = 2 x this many sequences). With packing,
    the token budget of a micro-batch instead: one packed row of up to micro_batch_size x 2 x model.seq_length
    tokens, holding as many whole pairs as fit."""

    packing: Union[bool, str] = setting("auto", invalidates=())
    """Pack the pairs of each optimizer step into rows (first-fit-decreasing, chosen and rejected of a pair in one
    row, positions restarting per sequence, attention confined to each sequence) instead of padding each
    micro-batch to its longest sequence: same loss and gradients, fewer pad tokens. true, false, or "auto" (on
    with the SDPA attention path, whose packed kernels are tested for exactness here; off with Transformer
    Engine until its THD path is measured: set true to use it). docs/packing.md."""

    global_batch_size: int = setting(4, invalidates=("train",))
    """Pairs per optimizer step over all data-parallel ranks (paper: 4 per device);
    gradient accumulation steps = global_batch_size / (micro_batch_size x DP size)."""

    epochs: int = setting(1, invalidates=("train:iterations",))
    """Passes over the pair set (paper: 1 per iteration, 3 for the warm start)."""

    max_steps: int = setting(-1, invalidates=("train",))
    """Stop after this many optimizer steps (-1: run all epochs); also sets the schedule length."""

    save_every_steps: int = setting(0, invalidates=())
    """Checkpoint every N optimizer steps (0: only at the end)."""

    seed: int = setting(42, invalidates=("train",))
    """Seed for the data order and model-parallel RNG (paper/official configs: 42)."""

    use_distributed_optimizer: Union[bool, str] = setting("auto", invalidates=())
    """Megatron distributed optimizer (sharded state over DP): True, False, or "auto" (on GPU only;
    refused on CPU, see docs/megatron-on-cpu.md, "Optimizer")."""

    reference: str = setting("precomputed", invalidates=("train",))
    """"precomputed": reference log-probs computed once in a forward-only pass and stored with the pairs;
    "in_loop": a frozen reference model runs inside every step (for equivalence checks)."""

    reference_model: str = setting("iteration_start", invalidates=("reference", "train"))
    """Reference policy: "iteration_start" (the policy this job starts from: the paper's pi_ref = pi_theta_k)
    or "base" (the model the run started from, `model.hf_path`, or `reference_path` when set). Both
    reference modes ("precomputed" and "in_loop") read it the same way."""

    reference_path: Optional[str] = setting(None, invalidates=("reference", "train"))
    """With reference_model="base": a Megatron checkpoint or HF folder to use as the base reference instead
    of the run's starting model (None: `model.hf_path`). Refused with any other reference_model."""

    score_trained_pairs: bool = setting(True, invalidates=())
    """After the last step, score the job's pairs with the trained weights (one forward-only pass, about a
    third of an epoch's compute), and with the starting weights too when reference_model="base"; the
    margin-health figures (docs/margin-health.md) come from these scores. Needs reference="precomputed"."""

    log_every: int = setting(1, invalidates=())
    """Log metrics every N optimizer steps."""

    wandb_mode: str = setting("offline", invalidates=())
    """wandb mode: "offline" (default, no network), "online" or "disabled"."""

    wandb_project: str = setting("nemo-drift", invalidates=())
    """wandb project name."""

    wandb_run_name: Optional[str] = setting(None, invalidates=())
    """wandb run name (None: wandb picks one)."""

    def validate(self, dp_size: Optional[int] = None) -> list[str]:
        """One message per problem, each naming the `trainer.<key>` to change; empty when valid."""
        errors: list[str] = []
        choices = (("loss", self.loss, _LOSSES), ("optimizer", self.optimizer, _OPTIMIZERS),
                   ("reference", self.reference, _REFERENCE), ("reference_model", self.reference_model, _REFERENCE_MODEL),
                   ("wandb_mode", self.wandb_mode, _WANDB_MODES))
        for key, value, allowed in choices:
            if value not in allowed:
                errors.append(f"trainer.{key}: {value!r} is not one of {allowed}")
        positive_ints = (("micro_batch_size", self.micro_batch_size), ("global_batch_size", self.global_batch_size),
                         ("epochs", self.epochs), ("log_every", self.log_every))
        for key, value in positive_ints:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                errors.append(f"trainer.{key}: {value!r} must be a positive integer")
        for key, value in (("lr", self.lr), ("beta", self.beta), ("eps", self.eps)):
            if not value > 0:
                errors.append(f"trainer.{key}: {value!r} must be > 0")
        for key, value in (("weight_decay", self.weight_decay), ("clip_grad", self.clip_grad),
                           ("rpo_alpha", self.rpo_alpha), ("save_every_steps", self.save_every_steps)):
            if value < 0:
                errors.append(f"trainer.{key}: {value!r} must be >= 0")
        for key, value in (("warmup_ratio", self.warmup_ratio),):
            if not 0 <= value < 1:
                errors.append(f"trainer.{key}: {value!r} must be in [0, 1)")
        for key, value in (("rmsprop_alpha", self.rmsprop_alpha), ("adam_beta1", self.adam_beta1),
                           ("adam_beta2", self.adam_beta2)):
            if not 0 <= value < 1:
                errors.append(f"trainer.{key}: {value!r} must be in [0, 1)")
        if self.max_steps != -1 and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            errors.append(f"trainer.max_steps: {self.max_steps!r} must be -1 (all epochs) or a positive integer")
        if self.packing not in (True, False, "auto"):
            errors.append(f"trainer.packing: {self.packing!r} must be true, false or 'auto'")
        if self.use_distributed_optimizer not in (True, False, "auto"):
            errors.append(f"trainer.use_distributed_optimizer: {self.use_distributed_optimizer!r} must be true, false or 'auto'")
        if self.reference_path and self.reference_model != "base":
            errors.append(f"trainer.reference_path: only read with trainer.reference_model=base (it is "
                          f"{self.reference_model!r}); remove it or set trainer.reference_model=base")
        if not errors and dp_size is not None:
            per_step = self.micro_batch_size * dp_size
            if self.global_batch_size % per_step:
                errors.append(f"trainer.global_batch_size: {self.global_batch_size} is not divisible by micro_batch_size "
                              f"{self.micro_batch_size} x data-parallel size {dp_size}")
        return errors

    def base_reference(self, start: str) -> str:
        """Where the "base" reference model is: `reference_path` when set, else `start` (the model the run
        or job started from)."""
        return self.reference_path or start

    def packs(self, attention_backend: str, context_parallel_size: int) -> bool:
        """Whether micro-batches are packed with this resolved attention backend ("te" or "sdpa")."""
        if self.packing == "auto":
            return attention_backend == "sdpa" and context_parallel_size == 1
        return bool(self.packing)

    def uses_mean_logps(self) -> bool:
        """Whether the loss compares mean per-token log-probs rather than sums (and so do its margins)."""
        return self.length_normalize or self.loss in LENGTH_NORMALIZED_LOSSES

    def num_microbatches(self, dp_size: int) -> int:
        """Gradient-accumulation steps per optimizer step on each data-parallel rank."""
        return self.global_batch_size // (self.micro_batch_size * dp_size)
