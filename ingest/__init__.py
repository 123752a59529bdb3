"""Stage 1 of the pipeline: source files -> Documents -> Chunks."""
