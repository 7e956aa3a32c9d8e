"""The data layer: plain Python (no torch.distributed, no megatron), fast and unit-tested.

    rows.py       stream raw rows (JSON array via ijson, JSONL, Parquet, hub datasets)
    formats/      one parser per input format -> Conversation | SourcePair | Reject
    extract.py    conversations/pairs -> DSAT, SAT, seed records (label judges the reply before it)
    split.py      train/held-out by a hash of the conversation id
    prepare.py    the `nemo-drift prepare` stage: records + rejects + summary (summary.py)
    records.py    typed records, JSONL storage with schema version and provenance
    prompts.py    guided/unguided sampling prompts through the chat template
    fit.py        the over-length policy (drop oldest turns, then cut from the left)
    tokenize.py   DPO tokenization: prompt ids + response-only ids from the chat template
    samples/      small hand-written inputs in every format (the embedded default)
"""
