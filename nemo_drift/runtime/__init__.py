"""Runtime: distributed start-up (torchrun / SLURM / single process), seeding, CPU support for megatron-core."""
from nemo_drift.runtime.cpu_support import apply_cpu_support, cpu_support_applied
from nemo_drift.runtime.distributed import DistEnv, init_distributed, teardown_distributed
from nemo_drift.runtime.launcher_env import LaunchInfo, read_launch_env

__all__ = ["DistEnv", "LaunchInfo", "apply_cpu_support", "cpu_support_applied", "init_distributed",
           "read_launch_env", "teardown_distributed"]
