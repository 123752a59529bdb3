"""Stage 4: the QA benchmark (questions, metrics, report)."""
