"""The extractive reader: which span of a passage answers a question, and whether any does.

    reader.model  load the committed weights (manifest checked) and read passages
    reader.data   SQuAD 2.0 articles -> training examples, split by article, with negatives
    reader.train  `python -m reader.train`: fine-tune all-MiniLM-L6-v2 into the reader
"""
