"""Differential fuzzing of a port against the reference (``sorbet-ref fuzz``, docs/fuzzing.md).

``jobs`` (what is drawn) and ``plan`` (the seeded stream and its shards) decide the cases;
``rng`` and ``draw`` draw them vectorized, ``batch`` adds out-of-domain and named cases
and their expected results; ``engine`` sends them pipelined and judges the answers with
the runner's ``judge``; ``shrink`` and ``export`` turn a failure into a small vector file;
``run`` is one shard's run and ``report`` its reports and the merge of shards.
"""
