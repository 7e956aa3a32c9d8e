"""torchrun worker (2 processes): parallel state at TP=2 then PP=2, a TP=2 tiny GPTModel fwd/bwd.

Reports per layout: the ranks/sizes DistEnv gives, the all-reduce of (rank+1) over each group,
and at TP=2 the loss and whether every parameter got a finite gradient.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

import common  # noqa: F401  (sets sys.path)


def main() -> None:
    from megatron.core import parallel_state as ps

    from nemo_drift.runtime import init_distributed, teardown_distributed
    from tests.distributed import report
    from tiny_gpt import VOCAB, tiny_config, tiny_gpt

    out = {}
    for tp, pp in ((2, 1), (1, 2)):
        env = init_distributed(tensor_parallel=tp, pipeline_parallel=pp, seed=1234)
        sums = {}
        for name, group in (("tp", ps.get_tensor_model_parallel_group()), ("pp", ps.get_pipeline_model_parallel_group()),
                            ("dp", ps.get_data_parallel_group())):
            x = torch.tensor([float(env.rank + 1)])
            dist.all_reduce(x, group=group)
            sums[name] = x.item()
        entry = {"rank": env.rank, "world": env.world_size, "tp_rank": env.tp_rank, "pp_rank": env.pp_rank,
                 "dp_size": env.dp_size, "backend": env.backend, "device": str(env.device), "sums": sums,
                 "last_stage": env.is_last_stage}
        if tp == 2:
            torch.manual_seed(0)
            model = tiny_gpt(tiny_config(tensor_model_parallel_size=2))
            tokens = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(1))
            pos = torch.arange(16).expand(2, 16)
            loss = model(tokens, pos, None, labels=tokens.roll(-1, dims=1)).mean()  # [2, 16] -> scalar
            loss.backward()
            entry["loss"] = loss.item()
            entry["all_grads_finite"] = all(p.grad is not None and torch.isfinite(p.grad).all().item()
                                            for p in model.parameters())
        out[f"tp{tp}_pp{pp}"] = entry
    report(out)
    teardown_distributed()


if __name__ == "__main__":
    main()
