"""What every stage shares: the Document/Chunk records, word splitting, path defaults, the
settings file, entry-point set-up and lean imports. Imports nothing else of the project, so
every other package may import it (tests/test_imports.py holds the direction).
"""
