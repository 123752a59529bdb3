"""Stage 2 of the pipeline: chunks -> vectors (FAISS) + lexical index (SQLite FTS5).

Imports only `common`; planning and building an index from documents is ingest.build.
"""
