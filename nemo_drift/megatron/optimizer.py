"""Optimizers through megatron-core's stack: RMSprop (the DRIFT paper's) and Adam.

megatron-core 0.19.2 dispatches `OptimizerConfig.optimizer` over adam / sgd / lion / emerging ones
(`optimizer/__init__.py` `_get_megatron_optimizer_based_on_param_groups`) and has no RMSprop. We build
the Adam configuration, which gives every wrapper we want (FP32Optimizer on fp32 params,
Float16OptimizerWithFloat16Params with fp32 main params under bf16, DistributedOptimizer on GPU),
then hand each wrapper an `RMSprop` over the SAME param-group dicts. Our RMSprop names its state like
Adam's ("exp_avg_sq" = the running squared-gradient average, "exp_avg" = the momentum buffer, only
with momentum > 0), and each wrapper gets RMSprop's `init_state_fn` (megatron calls it to give a fresh
optimizer state before loading a checkpoint into it); the distributed optimizer additionally learns
RMSprop's state keys (`RMSpropDistributedOptimizer`), as megatron does for Lion, so no fp32 buffer
that RMSprop never reads is allocated or checkpointed (4 bytes a parameter).

CPU (docs/megatron-on-cpu.md, "Optimizer"): the distributed optimizer refuses CPU tensors
(`distrib_optimizer.py:478`), so "auto" falls back to the non-distributed wrapper with a logged reason;
`clip_grads.py:174` asserts CUDA grads, so `optimizer_step` swaps in CPU equivalents of megatron's
TP/PP-aware norm and clip for the duration of the step only (see `_cpu_grad_clipping`).
"""
from __future__ import annotations

import contextlib
import logging
import math
from typing import Any, Iterator, Optional

import torch
from torch import Tensor

from nemo_drift.config.trainer import TrainerConfig

logger = logging.getLogger(__name__)


class RMSprop(torch.optim.Optimizer):
    """torch.optim.RMSprop's update (non-centered) with Adam-compatible state names.

    square_avg <- alpha * square_avg + (1 - alpha) * g^2        (stored as "exp_avg_sq")
    p <- p - lr * g / (sqrt(square_avg) + eps)                  (momentum 0, the paper's setting)
    With momentum m > 0: buf <- m * buf + g / (sqrt(square_avg) + eps); p <- p - lr * buf ("exp_avg").
    weight_decay adds wd * p to g first (L2, as torch's RMSprop does).
    """

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, momentum: float) -> dict:
        state = self.state[p]
        if "exp_avg_sq" not in state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if momentum > 0 and "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Any = None) -> Optional[float]:
        """One RMSprop update of every parameter that has a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, momentum = group["weight_decay"], group.get("momentum", 0.0)
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                state = self._init_state(p, momentum)
                # Out of place: after a distributed-optimizer load every state shares ONE step tensor
                # (distrib_optimizer.py:1024-1032); an in-place += would count each parameter.
                state["step"] = state["step"] + 1
                square_avg = state["exp_avg_sq"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                avg = square_avg.sqrt().add_(eps)
                if momentum > 0:
                    buf = state["exp_avg"]
                    buf.mul_(momentum).addcdiv_(grad, avg)
                    p.add_(buf, alpha=-lr)
                else:
                    p.addcdiv_(grad, avg, value=-lr)
        return loss


def resolve_distributed_optimizer(setting: bool | str, on_gpu: bool) -> tuple[bool, str]:
    """Whether to use megatron's distributed optimizer, and why (logged by the caller)."""
    if not on_gpu:
        why = ("CPU run: megatron's distributed optimizer refuses CPU tensors (distrib_optimizer.py:478, "
               "docs/megatron-on-cpu.md); using the non-distributed megatron optimizer")
        if setting is True:
            why = "trainer.use_distributed_optimizer=true ignored: " + why
        return False, why
    if setting == "auto":
        return True, "GPU run: distributed optimizer (optimizer state sharded over data-parallel ranks)"
    return bool(setting), f"trainer.use_distributed_optimizer={setting}"


def megatron_optimizer_config(cfg: TrainerConfig, bf16: bool, distributed: bool) -> Any:
    """The megatron `OptimizerConfig` for our settings (always the "adam" path; see module docstring)."""
    from megatron.core.optimizer import OptimizerConfig

    return OptimizerConfig(
        optimizer="adam", lr=cfg.lr, min_lr=0.0, weight_decay=cfg.weight_decay,
        adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2, adam_eps=cfg.eps,
        clip_grad=cfg.clip_grad, bf16=bf16, params_dtype=torch.bfloat16 if bf16 else torch.float32,
        use_distributed_optimizer=distributed, decoupled_weight_decay=True)


def _inner_optimizers(optimizer: Any) -> list[Any]:
    """The megatron wrappers inside a (possibly chained) megatron optimizer."""
    return list(getattr(optimizer, "chained_optimizers", [optimizer]))


def _install_rmsprop(optimizer: Any, cfg: TrainerConfig) -> None:
    """Replace each wrapper's inner torch optimizer by RMSprop over the same param-group dicts.

    The groups are handed over as they are, not re-validated by torch's constructor: under the
    distributed optimizer they hold views into the fp32 main-parameter shards (non-leaf tensors, which
    `Optimizer.add_param_group` refuses; seen on an H100).
    """
    for wrapper in _inner_optimizers(optimizer):
        inner = getattr(wrapper, "optimizer", None)
        if inner is None:  # a rank with no trainable parameters keeps its stub
            continue
        groups = inner.param_groups
        for group in groups:  # Adam-only keys are dropped so RMSprop's settings apply
            for key in ("betas", "amsgrad", "foreach", "maximize", "capturable", "differentiable", "fused",
                        "decoupled_weight_decay", "bias_correction", "adam_w_mode"):
                group.pop(key, None)
            group["alpha"], group["eps"], group["momentum"] = cfg.rmsprop_alpha, cfg.eps, 0.0
        rmsprop = RMSprop([torch.zeros(1, requires_grad=True)], lr=cfg.lr, alpha=cfg.rmsprop_alpha, eps=cfg.eps,
                          weight_decay=cfg.weight_decay)
        rmsprop.param_groups = groups
        wrapper.optimizer = rmsprop
        wrapper.init_state_fn = rmsprop_init_state_fn
        _teach_rmsprop_state(wrapper)


def rmsprop_init_state_fn(opt: torch.optim.Optimizer, config: Any = None) -> None:
    """megatron's `init_state_fn` contract (optimizer/__init__.py:588, Adam's): give every parameter
    without state the tensors a checkpoint of this optimizer holds, so a load has somewhere to go."""
    for group in opt.param_groups:
        for p in group["params"]:
            if len(opt.state[p]) == 0:
                opt.state[p]["step"] = torch.tensor(0.0)
                opt.state[p]["exp_avg_sq"] = torch.zeros_like(p.data)
                if group.get("momentum", 0.0) > 0:
                    opt.state[p]["exp_avg"] = torch.zeros_like(p.data)


def _teach_rmsprop_state(wrapper: Any) -> None:
    """Make a DistributedOptimizer wrapper RMSprop-aware (a no-op for the other wrappers)."""
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    if isinstance(wrapper, DistributedOptimizer) and not isinstance(wrapper, RMSpropDistributedOptimizer):
        wrapper.__class__ = _rmsprop_subclass(type(wrapper))


_SUBCLASSES: dict[type, type] = {}


def _rmsprop_subclass(base: type) -> type:
    if base not in _SUBCLASSES:
        _SUBCLASSES[base] = type(f"RMSprop{base.__name__}", (RMSpropDistributedOptimizer, base), {})
    return _SUBCLASSES[base]


class RMSpropDistributedOptimizer:
    """Mixin over megatron's DistributedOptimizer for our RMSprop (GPU only: the distributed optimizer
    refuses CPU tensors). The load fix is unit-tested on CPU against upstream's own method
    (tests/megatron/test_optimizer_schedule.py); the full save/resume runs in bench/gpu_session.sh.

    - `optimizer_state_keys`: RMSprop's tensors ("exp_avg_sq", plus "exp_avg" with momentum), as
      megatron special-cases Lion (distrib_optimizer.py:805-815); Adam's pair is the default there.
    - `_set_main_param_and_optimizer_states`: upstream copies every tensor of a parameter's state, the
      torch-native "step" included (distrib_optimizer.py:1213-1223), but the fully-reshardable loader
      leaves "step" out of what it hands over (:2390; step comes back through param_groups), which
      raised KeyError('step') on an H100. The step already restored by load_state_dict is kept.
    """

    @property
    def optimizer_state_keys(self) -> tuple[str, ...]:
        momentum = any(g.get("momentum", 0.0) > 0 for g in self.optimizer.param_groups)
        return ("exp_avg", "exp_avg_sq") if momentum else ("exp_avg_sq",)

    def _set_main_param_and_optimizer_states(self, model_param: Tensor, tensors: dict) -> None:
        group_index, group_order = self.model_param_group_index_map[model_param]
        main_param = self.optimizer.param_groups[group_index]["params"][group_order]
        state = self.optimizer.state[main_param]
        if "step" in state and "step" not in tensors:
            tensors = {**tensors, "step": state["step"]}
        super()._set_main_param_and_optimizer_states(model_param, tensors)  # type: ignore[misc]


def wrap_ddp(chunks: list[torch.nn.Module], cfg: Optional[TrainerConfig] = None) -> list[torch.nn.Module]:
    """Chunks wrapped in megatron's DistributedDataParallel (those already wrapped are kept).

    megatron's optimizer needs DDP's contiguous grad buffers (docs/megatron-on-cpu.md, "Optimizer").
    We wrap here rather than through Megatron-Bridge's `provide_distributed_model(wrap_with_ddp=True)`,
    whose `megatron.training` DDP helper creates a `torch.cuda.Stream()` (dist_utils.py:303) and fails
    on CPU. fp32 grad accumulation; the DDP buffers are laid out for the distributed optimizer when
    `cfg` (default settings when None) resolves to it, as megatron requires both to agree.
    """
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig
    from megatron.core.utils import get_model_config

    setting = (cfg or TrainerConfig()).use_distributed_optimizer
    distributed, _ = resolve_distributed_optimizer(setting, torch.cuda.is_available())
    wrapped = []
    for chunk in chunks:
        if isinstance(chunk, DistributedDataParallel):
            wrapped.append(chunk)
            continue
        ddp_config = DistributedDataParallelConfig(grad_reduce_in_fp32=True, use_distributed_optimizer=distributed)
        wrapped.append(DistributedDataParallel(get_model_config(chunk), ddp_config, chunk))
    return wrapped


def build_optimizer(model_chunks: list[torch.nn.Module], cfg: TrainerConfig) -> Any:
    """A megatron optimizer (RMSprop or Adam) for DDP-wrapped model chunks.

    `model_chunks` must be wrapped in megatron's DistributedDataParallel (get_megatron_optimizer reads
    its grad buffers; docs/megatron-on-cpu.md, "Optimizer"). bf16 is read from the parameters' dtype.
    """
    from megatron.core.optimizer import get_megatron_optimizer

    on_gpu = torch.cuda.is_available()
    distributed, why = resolve_distributed_optimizer(cfg.use_distributed_optimizer, on_gpu)
    logger.info("optimizer %s: %s", cfg.optimizer, why)
    bf16 = next(model_chunks[0].parameters()).dtype == torch.bfloat16
    optimizer = get_megatron_optimizer(megatron_optimizer_config(cfg, bf16, distributed), model_chunks)
    if cfg.optimizer == "rmsprop":
        _install_rmsprop(optimizer, cfg)
    return optimizer


def prepare_for_load(optimizer: Any) -> None:
    """Give a fresh distributed optimizer per-parameter state before a checkpoint is loaded into it.

    megatron's DistributedOptimizer.state_dict() (called by sharded_state_dict(is_loading=True))
    asserts one common 'step' over the state (distrib_optimizer.py:839), which a never-stepped
    optimizer does not have; upstream's own `_init_optimizer_states_with_dummy_values` (a zero-grad
    step, whose values the load then overwrites) fills it. Seen on an H100; a no-op on CPU, where the
    distributed optimizer is not used.
    """
    for wrapper in _inner_optimizers(optimizer):
        inner = getattr(wrapper, "optimizer", None)
        init = getattr(wrapper, "_init_optimizer_states_with_dummy_values", None)
        if inner is not None and init is not None and len(inner.state) == 0:
            init()


def checkpoint_metadata(optimizer: Any) -> Optional[dict]:
    """`metadata` for megatron's optimizer.sharded_state_dict (the same on save and load).

    The distributed optimizer is saved "fully_reshardable" (optimizer state in model space, so it loads
    at another TP/PP/DP layout); its default format failed to save on an H100. None otherwise.
    """
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    if any(isinstance(w, DistributedOptimizer) for w in _inner_optimizers(optimizer)):
        return {"distrib_optim_sharding_type": "fully_reshardable"}
    return None


# --- CPU gradient norm and clipping -------------------------------------------------------------

def cpu_grad_norm_fp32(grads_for_norm: list[Tensor] | Tensor, norm_type: float = 2,
                       grad_stats_parallel_group: Optional[torch.distributed.ProcessGroup] = None) -> float:
    """megatron's `get_grad_norm_fp32` for CPU tensors: the same L2 norm over the same gradients.

    The caller (MegatronOptimizer.get_grads_for_grad_norm) already dropped TP-duplicated and shared
    parameters, so summing squares locally and all-reducing over the model-parallel group gives the
    norm of the full (unsplit) gradient, exactly as upstream does on GPU.
    """
    if isinstance(grads_for_norm, Tensor):
        grads_for_norm = [grads_for_norm]
    if float(norm_type) != 2.0:
        raise ValueError(f"grad-norm type {norm_type}: only the L2 norm (what megatron clips by) is computed on CPU")
    total = torch.zeros(1, dtype=torch.float64)
    for grad in grads_for_norm:
        total += grad.detach().double().pow(2).sum()
    if torch.distributed.is_initialized() and grad_stats_parallel_group is not None:
        torch.distributed.all_reduce(total, op=torch.distributed.ReduceOp.SUM, group=grad_stats_parallel_group)
    return math.sqrt(total.item())


def cpu_clip_grad_by_total_norm_fp32(parameters: list[Tensor], max_norm: float, total_norm: float,
                                     use_decoupled_grad: bool = False) -> None:
    """megatron's `clip_grad_by_total_norm_fp32` without its CUDA-type assert (clip_grads.py:174)."""
    coeff = max_norm / (total_norm + 1.0e-6)
    if coeff >= 1.0:
        return
    for param in parameters:
        grad = param.decoupled_grad if use_decoupled_grad else param.grad
        if grad is not None:
            grad.detach().mul_(coeff)


@contextlib.contextmanager
def _cpu_grad_clipping() -> Iterator[None]:
    """Within the block, megatron's optimizer module uses the CPU norm/clip functions above.

    Only the names bound in `megatron.core.optimizer.optimizer` (where MegatronOptimizer.clip_grad_norm
    looks them up) are swapped, and only on a CPU-only machine; they are restored on exit.
    """
    if torch.cuda.is_available():
        yield
        return
    import megatron.core.optimizer.optimizer as mopt

    saved = (mopt.get_grad_norm_fp32, mopt.clip_grad_by_total_norm_fp32)
    mopt.get_grad_norm_fp32, mopt.clip_grad_by_total_norm_fp32 = cpu_grad_norm_fp32, cpu_clip_grad_by_total_norm_fp32
    try:
        yield
    finally:
        mopt.get_grad_norm_fp32, mopt.clip_grad_by_total_norm_fp32 = saved


def optimizer_step(optimizer: Any) -> tuple[bool, Optional[float]]:
    """Clip (TP/PP-aware), step; returns (success, grad norm). Works on CPU and GPU.

    The grad norm is measured before clipping; with clip_grad=0 it is still computed, for the logs.
    """
    with _cpu_grad_clipping():
        success, grad_norm, _ = optimizer.step()
        if grad_norm is None and success:  # clip_grad == 0: megatron skips the norm; measure it for the logs
            grad_norm = optimizer.get_grad_norm()  # the step leaves the (main) grads untouched
    return bool(success), None if grad_norm is None else float(grad_norm)
