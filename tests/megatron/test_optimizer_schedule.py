"""RMSprop update, CPU grad-norm/clip replacements, the linear warmup/decay schedule."""
from __future__ import annotations

import pytest
import torch

from nemo_drift.config.trainer import TrainerConfig
from nemo_drift.megatron.optimizer import (RMSprop, cpu_clip_grad_by_total_norm_fp32, cpu_grad_norm_fp32,
                                           resolve_distributed_optimizer)
from nemo_drift.megatron.schedule import warmup_steps


def _run(opt_cls, steps: int = 5, **kw) -> list[torch.Tensor]:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(5))]
    opt = opt_cls(params, **kw)
    for i in range(steps):
        for p in params:
            p.grad = torch.sin(p.detach() * (i + 1)) + 0.1
        opt.step()
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize("kw", [dict(lr=1e-2, alpha=0.99, eps=1e-8), dict(lr=3e-2, alpha=0.9, eps=1e-6, weight_decay=0.1),
                                dict(lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.5)])
def test_rmsprop_matches_torch(kw) -> None:
    ours, ref = _run(RMSprop, **kw), _run(torch.optim.RMSprop, **kw)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_rmsprop_first_step_by_hand() -> None:
    # square_avg = (1 - 0.99) * g^2 = 0.01 * 4; step = lr * g / sqrt(0.04) = 0.1 * 2 / 0.2 = 1.0
    p = torch.nn.Parameter(torch.tensor([0.0]))
    p.grad = torch.tensor([2.0])
    opt = RMSprop([p], lr=0.1, alpha=0.99, eps=0.0)
    opt.step()
    assert p.item() == pytest.approx(-1.0, abs=1e-6)
    # Adam's name for the squared average (megatron checkpoints it); no momentum buffer without momentum
    assert set(opt.state[p]) == {"step", "exp_avg_sq"}
    with_momentum = RMSprop([q := torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    q.grad = torch.ones(1)
    with_momentum.step()
    assert set(with_momentum.state[q]) == {"step", "exp_avg", "exp_avg_sq"}


def test_rmsprop_steps_do_not_share_a_step_tensor() -> None:
    """After a distributed-optimizer load all states share one step tensor; each step must count once."""
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
    opt = RMSprop(params, lr=0.1)
    shared = torch.tensor(7.0)
    for p in params:
        p.grad = torch.ones(2)
        opt.state[p]["step"] = shared
        opt.state[p]["exp_avg_sq"] = torch.zeros(2)
    opt.step()
    assert [float(opt.state[p]["step"]) for p in params] == [8.0, 8.0, 8.0]
    assert float(shared) == 7.0


def test_cpu_grad_norm_and_clip() -> None:
    grads = [torch.tensor([3.0, 0.0]), torch.tensor([[4.0]])]
    assert cpu_grad_norm_fp32(grads) == pytest.approx(5.0)
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    cpu_clip_grad_by_total_norm_fp32(params, max_norm=1.0, total_norm=5.0)
    assert params[0].grad.tolist() == pytest.approx([0.6, 0.0], abs=1e-6)
    cpu_clip_grad_by_total_norm_fp32(params, max_norm=10.0, total_norm=1.0)  # below the max: untouched
    assert params[0].grad.tolist() == pytest.approx([0.6, 0.0], abs=1e-6)


def test_distributed_optimizer_resolution() -> None:
    assert resolve_distributed_optimizer("auto", on_gpu=True)[0] is True
    use, why = resolve_distributed_optimizer(True, on_gpu=False)
    assert use is False and "distrib_optimizer.py:478" in why and "ignored" in why
    assert resolve_distributed_optimizer(False, on_gpu=True)[0] is False


@pytest.mark.parametrize("total,ratio,expected", [(10, 0.1, 1), (25, 0.1, 3), (1, 0.1, 0), (8, 0.0, 0)])
def test_warmup_steps(total: int, ratio: float, expected: int) -> None:
    assert warmup_steps(total, ratio) == expected


def test_schedule_values_match_linear_warmup_decay() -> None:
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler  # noqa: F401  (import check)
    from nemo_drift.megatron.schedule import build_scheduler

    class _Opt:  # the scheduler only touches param_groups
        param_groups = [{"lr": 0.0}]

    opt = _Opt()
    sched = build_scheduler(opt, TrainerConfig(lr=1.0, warmup_ratio=0.2), total_steps=10)  # W = 2
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(10):
        sched.step(1)
        lrs.append(opt.param_groups[0]["lr"])
    # HF get_linear_schedule_with_warmup: s/W for s <= W, then (T - s) / (T - W)
    expected = [s / 2 if s <= 2 else (10 - s) / 8 for s in range(11)]
    assert lrs == pytest.approx(expected)
    assert lrs[:4] == pytest.approx([0.0, 0.5, 1.0, 0.875])
    state = sched.state_dict()
    assert state["num_steps"] == 10


def test_distributed_optimizer_subclass_keeps_the_restored_step() -> None:
    """RMSprop's DistributedOptimizer subclass (GPU only) on megatron's own load code, without a GPU:
    upstream raises KeyError('step') (distrib_optimizer.py:1213-1223) because the fully-reshardable
    loader hands over no 'step'; the subclass keeps the step load_state_dict already restored."""
    from types import SimpleNamespace

    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    from nemo_drift.megatron.optimizer import _rmsprop_subclass

    wrapper = object.__new__(_rmsprop_subclass(DistributedOptimizer))  # only the state the method reads
    main, model_param = torch.zeros(4), torch.nn.Parameter(torch.zeros(4))
    opt = RMSprop([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    opt.param_groups = [dict(params=[main], lr=0.1, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0)]
    opt.state[main] = {"step": torch.tensor(3.0), "exp_avg_sq": torch.zeros(4)}
    wrapper.optimizer = opt
    wrapper.model_param_group_index_map = {model_param: (0, 0)}
    wrapper.config = SimpleNamespace(use_precision_aware_optimizer_no_fp8_or_ds_fp8=False)
    loaded = {"param": torch.ones(4), "exp_avg_sq": torch.full((4,), 2.0)}

    with pytest.raises(KeyError, match="step"):  # the upstream method on its own
        DistributedOptimizer._set_main_param_and_optimizer_states(wrapper, model_param, dict(loaded))
    wrapper._set_main_param_and_optimizer_states(model_param, dict(loaded))
    assert main.tolist() == [1.0] * 4 and opt.state[main]["exp_avg_sq"].tolist() == [2.0] * 4
    assert float(opt.state[main]["step"]) == 3.0
    assert wrapper.optimizer_state_keys == ("exp_avg_sq",)  # what checkpoints gather and allocate
    opt.param_groups[0]["momentum"] = 0.9
    assert wrapper.optimizer_state_keys == ("exp_avg", "exp_avg_sq")


def test_checkpoint_metadata_only_for_the_distributed_optimizer() -> None:
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    from nemo_drift.megatron.optimizer import checkpoint_metadata

    distributed = object.__new__(DistributedOptimizer)
    assert checkpoint_metadata(distributed) == {"distrib_optim_sharding_type": "fully_reshardable"}
    assert checkpoint_metadata(object()) is None  # e.g. FP32Optimizer on CPU: megatron's default format
