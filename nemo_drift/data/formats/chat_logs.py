"""Generic production chat logs: the format we recommend (README, "Bring your own logs").

JSONL, one conversation per line::

    {"id": "c-17", "messages": [
        {"role": "user", "content": "..."},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": "that's wrong, ...", "feedback": "dsat"}]}

``feedback`` ("sat" | "dsat", optional) on a user message judges the assistant message before it.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from nemo_drift.data.formats.common import Conversation, Item, RowError, map_rows, need
from nemo_drift.data.records import Provenance
from nemo_drift.data.rows import RawRow

NAME = "chat_logs"
KEYS = {"messages"}

_ROLES = ("system", "user", "assistant")
_FEEDBACK = ("sat", "dsat")


def parse_messages(items: list, where: str) -> list[dict[str, str]]:
    """Validate role/content(/feedback) messages; returns clean copies."""
    messages = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        role = need(item, "role", str, at)
        if role not in _ROLES:
            raise RowError("bad_field", f"{at} role {role!r} is not one of {', '.join(_ROLES)}")
        message = {"role": role, "content": need(item, "content", str, at)}
        feedback = item.get("feedback")
        if feedback is not None:
            if feedback not in _FEEDBACK:
                raise RowError("bad_field", f"{at} feedback {feedback!r} is not 'sat' or 'dsat'")
            message["feedback"] = feedback
        messages.append(message)
    return messages


def _parse_row(row: RawRow) -> Conversation:
    conv_id = need(row.value, "id", (str, int))
    messages = need(row.value, "messages", list)
    if not messages:
        raise RowError("empty_conversation", "field 'messages' is empty")
    provenance = Provenance(row.source_file, NAME, row.row, str(conv_id))
    return Conversation(str(conv_id), parse_messages(messages, "messages"), provenance, row)


def parse(rows: Iterable[RawRow]) -> Iterator[Item]:
    """One Conversation per line."""
    return map_rows(rows, _parse_row)
