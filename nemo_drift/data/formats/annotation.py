"""WildFeedback `sat_dsat_annotation`: a flat JSON array of utterance rows, grouped into conversations.

Row fields: ``UtterranceId`` (restarts at 0 at each conversation), ``TurnId``, ``Role`` ("User" |
"Agent"), ``Content``, ``State``, ``Satisfaction`` (bool), ``Disatisfaction`` (bool, this spelling),
``Preceeding``. A label on a User row judges the Agent reply just before it (WildFeedback, A.1).

The file has no conversation id, so a conversation's id is a hash of its (role, content) turns:
stable when data is added, and equal for duplicated conversations. One bad row (missing field,
invalid UTF-8, a gap in UtterranceId) rejects its whole conversation, because a conversation with a
missing turn would pin labels on the wrong reply.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from nemo_drift.data.formats.common import Conversation, Item, RowError, content_id, need, row_reject
from nemo_drift.data.records import Provenance
from nemo_drift.data.rows import RawRow

NAME = "sat_dsat_annotation"
KEYS = {"UtterranceId", "Role", "Content"}
"""Keys that identify the format in auto-detection."""

_ROLES = {"user": "user", "agent": "assistant", "assistant": "assistant", "system": "system"}


def _starts_conversation(row: RawRow) -> bool:
    return isinstance(row.value, dict) and row.value.get("UtterranceId") == 0


def _message(row: RawRow, expected_id: int) -> dict[str, str]:
    """One utterance row as a message; RowError on any problem."""
    if row.problem is not None:
        raise RowError(*row.problem)
    where = f"row {row.row}"
    utterance = need(row.value, "UtterranceId", int, where)
    if utterance != expected_id:
        raise RowError("utterance_gap", f"{where} has UtterranceId {utterance}, expected {expected_id}")
    role_name = need(row.value, "Role", str, where)
    role = _ROLES.get(role_name.lower())
    if role is None:
        raise RowError("bad_field", f"{where} Role {role_name!r} is not User or Agent")
    message = {"role": role, "content": need(row.value, "Content", str, where)}
    sat = need(row.value, "Satisfaction", bool, where)
    dsat = need(row.value, "Disatisfaction", bool, where)
    if sat and dsat:
        raise RowError("conflicting_labels", f"{where} is labelled both Satisfaction and Disatisfaction")
    if (sat or dsat) and role != "user":
        raise RowError("label_on_agent_turn", f"{where} is an {role_name} turn with a SAT/DSAT label")
    if sat or dsat:
        message["feedback"] = "dsat" if dsat else "sat"
    return message


def _conversation(group: list[RawRow]) -> Item:
    """A group of rows -> a Conversation, or one Reject covering all its rows."""
    first = group[0]
    turns = [(r.value.get("Role"), r.value.get("Content")) if isinstance(r.value, dict) else None for r in group]
    conv_id = content_id(turns)
    try:
        messages = [_message(row, i) for i, row in enumerate(group)]
    except RowError as err:
        return row_reject(first, err.reason, err.detail, conv_id, n_rows=len(group))
    provenance = Provenance(first.source_file, NAME, first.row, conv_id)
    return Conversation(conv_id, messages, provenance, first, n_rows=len(group))


def parse(rows: Iterable[RawRow]) -> Iterator[Item]:
    """Group utterance rows into conversations (a new one at each UtterranceId 0)."""
    group: list[RawRow] = []
    for row in rows:
        if row.problem is not None and row.problem[0] == "json_syntax_error":
            if group:
                yield row_reject(group[0], "json_syntax_error", "conversation cut off by a JSON syntax error",
                                 n_rows=len(group))
            group = []
            yield row_reject(row, *row.problem, n_rows=0)
            continue
        if _starts_conversation(row) and group:
            yield _conversation(group)
            group = []
        group.append(row)
    if group:
        yield _conversation(group)
