"""Pair datasets: WildFeedback pairs, the official DRIFT JSONL, UltraFeedback raw and binarized.

Each row is one `SourcePair` (context, rejected, maybe chosen). How the fields map:
- wildfeedback_pairs: ``conversations`` ShareGPT turns -> context; ``rejected.value`` -> rejected;
  ``chosen.value`` -> chosen (becomes a SAT catalogue entry); no feedback turn.
- drift_jsonl: ``prompt`` -> context; ``rejected[0].content`` -> rejected;
  ``user_preference.content`` -> feedback (it is the user's feedback message the official sampler
  shows the policy).
- ultrafeedback_raw (openbmb): ``instruction`` -> a one-turn context; chosen = the completion with
  the highest ``overall_score``, rejected = the lowest (first one wins a tie); a row with fewer than
  two scored completions or no score gap is rejected (nothing to prefer).
- ultrafeedback_binarized (HuggingFaceH4): ``chosen[:-1]`` -> context; ``chosen[-1]`` and
  ``rejected[-1]`` -> chosen and rejected.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from nemo_drift.data.formats.chat_logs import parse_messages
from nemo_drift.data.formats.common import Item, RowError, SourcePair, content_id, map_rows, need
from nemo_drift.data.records import Message, Provenance
from nemo_drift.data.rows import RawRow

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def _row_id(value: dict, *content: Any) -> str:
    given = value.get("id", value.get("prompt_id"))
    return str(given) if isinstance(given, (str, int)) and not isinstance(given, bool) else content_id(*content)


def _pair(row: RawRow, fmt: str, context: list[Message], rejected: str, chosen: str | None,
          feedback: str = "", preference: str | None = None) -> SourcePair:
    pair_id = _row_id(row.value, context, rejected, chosen)
    provenance = Provenance(row.source_file, fmt, row.row, pair_id)
    return SourcePair(pair_id, context, rejected, chosen, feedback, preference, provenance, row)


def _sharegpt_turn(item: Any, where: str) -> Message:
    speaker = need(item, "from", str, where)
    if speaker not in _SHAREGPT_ROLES:
        raise RowError("bad_field", f"{where} from {speaker!r} is not human or gpt")
    return {"role": _SHAREGPT_ROLES[speaker], "content": need(item, "value", str, where)}


def _wildfeedback_pair(row: RawRow) -> SourcePair:
    turns = need(row.value, "conversations", list)
    context = [_sharegpt_turn(t, f"conversations[{i}]") for i, t in enumerate(turns)]
    chosen = _sharegpt_turn(need(row.value, "chosen", dict), "chosen")["content"]
    rejected = _sharegpt_turn(need(row.value, "rejected", dict), "rejected")["content"]
    return _pair(row, "wildfeedback_pairs", context, rejected, chosen)


def _drift_pair(row: RawRow) -> SourcePair:
    context = parse_messages(need(row.value, "prompt", list), "prompt")
    rejected_list = need(row.value, "rejected", list)
    if not rejected_list:
        raise RowError("missing_field", "field 'rejected' is an empty list")
    rejected = need(rejected_list[0], "content", str, "rejected[0]")
    preference = need(row.value, "user_preference", (dict, str))
    feedback = preference if isinstance(preference, str) else need(preference, "content", str, "user_preference")
    return _pair(row, "drift_jsonl", context, rejected, None, feedback=feedback)


def _ultrafeedback_raw(row: RawRow) -> SourcePair:
    instruction = need(row.value, "instruction", str)
    scored = []
    for i, completion in enumerate(need(row.value, "completions", list)):
        score = completion.get("overall_score") if isinstance(completion, dict) else None
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            scored.append((float(score), need(completion, "response", str, f"completions[{i}]")))
    if len(scored) < 2:
        raise RowError("too_few_completions", f"{len(scored)} completion(s) with an overall_score; need 2")
    best = max(scored, key=lambda s: s[0])
    worst = min(scored, key=lambda s: s[0])
    if best[0] == worst[0]:
        raise RowError("no_score_gap", f"all completions score {best[0]}: nothing to prefer")
    return _pair(row, "ultrafeedback_raw", [{"role": "user", "content": instruction}], worst[1], best[1])


def _ultrafeedback_binarized(row: RawRow) -> SourcePair:
    need(row.value, "prompt", str)
    chosen = parse_messages(need(row.value, "chosen", list), "chosen")
    rejected = parse_messages(need(row.value, "rejected", list), "rejected")
    for name, turns in (("chosen", chosen), ("rejected", rejected)):
        if len(turns) < 2 or turns[-1]["role"] != "assistant":
            raise RowError("bad_field", f"{name} does not end with an assistant reply after a prompt")
    return _pair(row, "ultrafeedback_binarized", chosen[:-1], rejected[-1]["content"], chosen[-1]["content"])


def parse_wildfeedback_pairs(rows: Iterable[RawRow]) -> Iterator[Item]:
    return map_rows(rows, _wildfeedback_pair)


def parse_drift_jsonl(rows: Iterable[RawRow]) -> Iterator[Item]:
    return map_rows(rows, _drift_pair)


def parse_ultrafeedback_raw(rows: Iterable[RawRow]) -> Iterator[Item]:
    return map_rows(rows, _ultrafeedback_raw)


def parse_ultrafeedback_binarized(rows: Iterable[RawRow]) -> Iterator[Item]:
    return map_rows(rows, _ultrafeedback_binarized)
