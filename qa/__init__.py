"""Stage 3 of the pipeline: question -> retrieved passages -> cited answer."""
