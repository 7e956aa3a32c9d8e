"""The method registry: the built-in methods are found by name, each declares the settings it honours,
and a method defined outside the package runs through the controller's functions unchanged."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pytest
from omegaconf import OmegaConf

from nemo_drift.config.method import MethodConfig
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller import sampling
from nemo_drift.controller.context import RunContext
from nemo_drift.data.records import DsatExample, PreferencePair, Provenance, SatExample, write_jsonl
from nemo_drift.methods import (COMMON_SETTINGS, Method, MethodInputs, PairBuildResult, SamplingNeed,
                                UnknownMethodError, get_method, method_names, register, unregister)
from nemo_drift.methods.base import SampleLike
from nemo_drift.methods.reward import LazyReward

BUILT_IN = ("drift", "spin", "iterdpo")
CONF_METHODS = Path(__file__).resolve().parents[2] / "conf" / "method"
PROV = Provenance("hand.jsonl", "chat_logs", 0, "c1")
CTX = [{"role": "user", "content": "Write a haiku about rain."}]


class Echo(Method):
    """A toy method: chosen = the SAT reply, rejected = the DSAT reply of the same id; samples nothing."""

    needs_sampling = False

    def sampling_needs(self, inputs: MethodInputs) -> list[SamplingNeed]:
        return []

    def build_pairs(self, inputs: MethodInputs,
                    samples_by_prompt_id: Mapping[str, Sequence[SampleLike]]) -> PairBuildResult:
        sat = {ex.id: ex for ex in inputs.sat}
        result = PairBuildResult()
        for ex in inputs.dsat:
            if ex.id not in sat:
                result.skip(ex.id, "no_sat_reply")
                continue
            result.pairs.append(PreferencePair(id=ex.id, prompt=list(ex.context), chosen=sat[ex.id].reply,
                                               rejected=ex.rejected, origin="echo"))
        return result


@pytest.fixture
def echo() -> Iterator[Method]:
    register("echo")(Echo)
    yield get_method("echo")
    unregister("echo")


def _ctx(tmp_path: Path, **method: object) -> RunContext:
    """A run context over hand-written records: all the controller's method functions read."""
    cfg = DriftConfig(method=MethodConfig(**method))
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, launcher=None, config_path=tmp_path / "config.yaml")  # type: ignore[arg-type]
    write_jsonl(ctx.data_dir / "dsat.jsonl", [
        DsatExample("a", CTX, "Rain rain rain.", "That's not 5-7-5.", None, "train", PROV),
        DsatExample("b", CTX, "Drizzle.", "Too short.", None, "train", PROV),
        DsatExample("h", CTX, "Held out.", "No.", None, "heldout", PROV)])
    write_jsonl(ctx.data_dir / "sat.jsonl", [SatExample("a", CTX, "Soft rain on the roof", "train", PROV)])
    return ctx


def test_built_in_methods_are_registered_and_unknown_names_list_them():
    assert method_names() == BUILT_IN
    assert all(isinstance(get_method(name), Method) for name in BUILT_IN)
    with pytest.raises(UnknownMethodError, match="'dpo' is not a registered method; known: drift, spin, iterdpo"):
        get_method("dpo")


def test_each_method_declares_the_settings_it_honours():
    assert [get_method(name).honours_guided for name in BUILT_IN] == [True, False, True]
    assert "reward_model" in get_method("iterdpo").honours
    for name in BUILT_IN:
        assert not get_method(name).honours & set(COMMON_SETTINGS)
        assert get_method(name).honours <= set(MethodConfig.__dataclass_fields__)


def test_one_preset_per_registered_method():
    presets = {path.stem: OmegaConf.load(path).name for path in CONF_METHODS.glob("*.yaml")}
    assert {stem: name for stem, name in presets.items() if stem in BUILT_IN} == {name: name for name in BUILT_IN}
    assert set(presets.values()) <= set(BUILT_IN)  # variants (drift_controlled) pick a registered method


def test_a_name_cannot_be_taken_twice():
    class Impostor(Echo):
        pass

    with pytest.raises(ValueError, match="'drift' is already registered"):
        register("drift")(Impostor)
    assert type(get_method("drift")).__name__ == "Drift"


def test_a_new_method_runs_through_the_controller_unchanged(echo, tmp_path):
    ctx = _ctx(tmp_path, name="echo", reward_model=str(tmp_path / "no-such-reward-model"))
    assert sampling.sampling_needs(ctx) == []
    gen_dir = tmp_path / "generate"
    gen_dir.mkdir()
    assert sampling.generate_samples(ctx, gen_dir, tmp_path / "no-such-policy", 1)["samples"] == 0
    result = sampling.build_pairs(ctx, gen_dir / sampling.SAMPLES_FILE)
    (pair,) = result.pairs  # held-out "h" never reaches the method
    assert (pair.id, pair.chosen, pair.rejected, pair.origin) == ("a", "Soft rain on the roof", "Rain rain rain.", "echo")
    assert result.skipped == [("b", "no_sat_reply")]
    # method.reward_model names no model: the controller's reward is lazy, and Echo never calls it.


def test_the_controller_hands_methods_a_lazy_reward_only_when_one_is_set(tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr(sampling, "_load_reward_model",
                        lambda path: loaded.append(path) or (lambda prompt, replies: [0.5] * len(replies)))
    assert sampling.method_inputs(_ctx(tmp_path)).reward is None
    reward = sampling.method_inputs(_ctx(tmp_path, reward_model="/models/rm")).reward
    assert isinstance(reward, LazyReward) and loaded == []
    assert reward(CTX, ["a reply"]) == [0.5] and loaded == ["/models/rm"]


def test_lazy_reward_loads_once_on_first_call():
    loads = []

    def load():
        loads.append(1)
        return lambda prompt, replies: [float(len(r)) for r in replies]

    reward = LazyReward(load)
    assert loads == [] and not reward.loaded
    assert reward(CTX, ["ab", "abc"]) == [2.0, 3.0]
    assert reward(CTX, ["a"]) == [1.0]
    assert loads == [1] and reward.loaded
