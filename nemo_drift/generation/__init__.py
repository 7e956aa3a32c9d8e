"""Sampling between iterations with vLLM, in its own interpreter and process.

    records.py  requests and samples (plain Python, JSONL)
    shards.py   prompt shards: atomic, fingerprinted, resumable
    client.py   the training side: shard, launch the sampler per replica, wait, merge (never imports vllm)
    sampler.py  the entry point run by the generation interpreter (the only module importing vllm)
"""
