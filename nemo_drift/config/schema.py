"""The whole run configuration: one typed dataclass per group, composed here.

Defaults live in the group dataclasses (one home per setting); `conf/*.yaml` presets only override
them. Validation runs per group and is collected in one list so a user sees every problem at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from nemo_drift.config.cluster import ClusterConfig
from nemo_drift.config.data import DataConfig
from nemo_drift.config.evaluation import EvalConfig
from nemo_drift.config.generation import GenerationConfig
from nemo_drift.config.method import MethodConfig
from nemo_drift.config.model import ModelConfig
from nemo_drift.config.run import ResumeConfig, RunConfig
from nemo_drift.config.trainer import TrainerConfig


@dataclass
class DriftConfig:
    """Everything one `nemo-drift` run needs. Each field is a group overridable as `group.key=value`."""

    run: RunConfig = field(default_factory=RunConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self, world_size: int | None = None, groups: Sequence[str] | None = None,
                 check_capabilities: bool = True) -> list[str]:
        """Every problem in the named groups (None: all) and between them, each message naming the key
        to change. The world size is the cluster layout's (`cluster.*`) unless given. Settings that need
        Transformer Engine are left out with `check_capabilities=False` (a probe has yet to answer)."""
        world_size = self.cluster.world_size if world_size is None else world_size
        model_parallel = (self.model.tensor_model_parallel_size * self.model.pipeline_model_parallel_size
                          * self.model.context_parallel_size)
        dp_size = max(world_size // max(model_parallel, 1), 1) if isinstance(model_parallel, int) else None
        per_group = {
            "run": self.run.validate, "resume": self.resume.validate,
            "model": lambda: self.model.validate(world_size), "data": self.data.validate,
            "method": self.method.validate, "trainer": lambda: self.trainer.validate(dp_size),
            "generation": self.generation.validate, "cluster": self.cluster.validate, "eval": self.eval.validate,
        }
        wanted = set(per_group if groups is None else groups)
        problems = [p for name, check in per_group.items() if name in wanted for p in check()]
        if "model" in wanted and check_capabilities:
            problems += self._capability_problems()
        if {"model", "trainer"} <= wanted and self.trainer.packing is True and self.model.context_parallel_size != 1:
            problems.append(f"trainer.packing: true is not supported with model.context_parallel_size "
                            f"{self.model.context_parallel_size}; set trainer.packing=auto or false")
        if not problems and {"model", "data"} <= wanted:
            problems += self._sequence_lengths()
        if not problems and {"model", "generation"} <= wanted and self.sampling_prompt_tokens() < 1:
            problems.append(f"generation.max_tokens: {self.generation.max_tokens} leaves no room for a sampling prompt "
                            f"in model.seq_length {self.model.seq_length}; set generation.max_prompt_tokens")
        return problems

    def sampling_prompt_tokens(self) -> int:
        """Tokens a sampling prompt may take: `generation.max_prompt_tokens`, or what `model.seq_length`
        leaves after `generation.max_tokens` new tokens."""
        if self.generation.max_prompt_tokens is not None:
            return self.generation.max_prompt_tokens
        return self.model.seq_length - self.generation.max_tokens

    def _capability_problems(self) -> list[str]:
        """Settings that need Transformer Engine, checked against the environment the Megatron stages run
        in (a probe of the training image on srun runs, this machine on local ones), not the controller's."""
        try:
            capabilities = self.cluster.stage_capabilities()
        except ValueError as err:
            return [str(err)]
        problems = self.model.capability_problems(capabilities)
        if capabilities.source and capabilities.image != self.cluster.container_image:
            problems.append(f"cluster.capabilities: {capabilities.source} was probed in {capabilities.image or 'no image'}, "
                            f"but cluster.container_image is {self.cluster.container_image}; probe again")
        return problems

    def _sequence_lengths(self) -> list[str]:
        """`data.max_length` is what the data layer fits a pair into; `model.seq_length` is what the model
        is built and batched for. A pair the data layer kept whole must not be cut again by the trainer."""
        if self.data.max_length > self.model.seq_length:
            return [f"data.max_length: {self.data.max_length} exceeds model.seq_length {self.model.seq_length}, so the "
                    "trainer would cut pairs the data layer reported as whole; set data.max_length <= "
                    f"{self.model.seq_length} or model.seq_length >= {self.data.max_length}"]
        return []
