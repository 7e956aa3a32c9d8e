"""The whole run configuration: one typed dataclass per group, composed here.

Defaults live in the group dataclasses (one home per setting); `conf/*.yaml` presets only override
them. Validation runs per group and is collected in one list so a user sees every problem at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from nemo_drift.config.cluster import ClusterConfig
from nemo_drift.config.data import DataConfig
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

    def validate(self, world_size: int | None = None) -> list[str]:
        """Every problem in every group, each message naming the key to change. The world size is the
        cluster layout's (`cluster.*`) unless given."""
        world_size = self.cluster.world_size if world_size is None else world_size
        dp_size = None
        if world_size is not None:
            model_parallel = (self.model.tensor_model_parallel_size * self.model.pipeline_model_parallel_size
                              * self.model.context_parallel_size)
            dp_size = max(world_size // max(model_parallel, 1), 1)
        return [
            *self.run.validate(),
            *self.resume.validate(),
            *self.model.validate(world_size),
            *self.data.validate(),
            *self.method.validate(),
            *self.trainer.validate(dp_size),
            *self.generation.validate(),
            *self.cluster.validate(),
        ]
