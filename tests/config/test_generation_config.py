"""GenerationConfig.validate and the eager-mode default: plain Python, no vLLM."""
from __future__ import annotations

from nemo_drift.config.generation import GenerationConfig


def test_config_validation_names_the_key(gen_python):
    assert GenerationConfig(python=str(gen_python)).validate() == []
    errors = GenerationConfig(top_p=1.5, n=0, temperature=-1, on_empty="maybe",
                              gpu_memory_utilization=0).validate()
    assert "generation.top_p: 1.5 is not in (0, 1]" in errors
    for key in ("generation.n:", "generation.temperature:", "generation.on_empty:",
                "generation.gpu_memory_utilization:"):
        assert any(e.startswith(key) for e in errors), key
    assert GenerationConfig().resolved_enforce_eager(on_gpu=False) is True
    assert GenerationConfig().resolved_enforce_eager(on_gpu=True) is False
