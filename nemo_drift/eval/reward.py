"""A sequence-classification reward model, loaded from a local path, that scores replies to a prompt.

IterDPO on UltraFeedback ranks two policy samples with it (the paper used
OpenAssistant/reward-model-deberta-v3-large-v2, which reads (question, answer) text pairs and returns
one logit). Any `AutoModelForSequenceClassification` with one output works the same way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


class RewardModel:
    """`reward(prompt_messages, replies) -> [score per reply]`; higher is better. Runs on the GPU when one is
    visible (a cluster's coverage run scores tens of thousands of replies)."""

    def __init__(self, path: str | Path, max_length: int = 1024, batch_size: int = 8,
                 setting: str = "method.reward_model"):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{setting}: {path} is not a local Hugging Face model folder")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForSequenceClassification.from_pretrained(path).eval().to(self.device)
        if self.model.config.num_labels != 1:
            raise ValueError(f"{setting}: {path} has {self.model.config.num_labels} outputs; a reward "
                             "model has exactly one")
        self.max_length, self.batch_size, self._torch = max_length, batch_size, torch

    @staticmethod
    def question(prompt: Sequence[dict]) -> str:
        """The conversation as plain text (the reward model has no chat template of ours)."""
        return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)

    def __call__(self, prompt: Sequence[dict], replies: Sequence[str]) -> list[float]:
        question = self.question(prompt)
        scores: list[float] = []
        with self._torch.no_grad():
            for start in range(0, len(replies), self.batch_size):
                chunk = list(replies[start:start + self.batch_size])
                enc = self.tokenizer([question] * len(chunk), chunk, truncation=True, max_length=self.max_length,
                                     padding=True, return_tensors="pt").to(self.device)
                scores += self.model(**enc).logits[:, 0].float().tolist()
        return scores
