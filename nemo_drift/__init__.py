"""nemo-drift: DRIFT, SPIN and IterDPO preference training on megatron-core.

The package root imports nothing heavy: the generation interpreter (vLLM, Python 3.11) imports
`nemo_drift.generation` without torch.distributed or megatron being present.
"""

__version__ = "0.1.0"
