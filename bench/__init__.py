"""Performance benchmarks: one command per measurement, each `python -m bench.<name> --help`.

    bench.ingest     index build throughput vs raw SentenceTransformer.encode
    bench.retrieval  dense search latency and recall@10: exact vs HNSW vs IVF, 1e4..1e6 vectors
    bench.answer     time to first token, answer time, tokens/s, vs the pipeline without the
                     reader; int8 vs fp32 SmolLM2
    bench.coldstart  `python app.py` to the first answer, and where the time goes
    bench.peers      our index store vs LangChain's and LlamaIndex's FAISS stores
    bench.chunking   seconds per MB of chunking hostile text at 1, 10 and 40 MB (linearity)
    bench.fuzz       1,000 seeded hostile and good files ingested in one batch: every outcome
                     checked, files/s, slowest file and largest peak memory (bench.fuzzfiles)

Every command reports medians over repeated runs, a ratio against a baseline measured in the
same run (this machine is shared and noisy), peak memory, and writes JSON under var/bench/.

Does not change any setting of the app: the results and recommendations are in
docs/PERFORMANCE.md.
"""
