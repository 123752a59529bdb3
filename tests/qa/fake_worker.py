"""A qa.worker on the fakes, for tests/qa/test_worker.py: the real protocol over real pipes.

python -m tests.qa.fake_worker INDEX_ROOT [--fatal] [--exit-after N] [--ready-after S]
Every question gets the reply "It was launched in April 2022 [1]."; --fatal reports a start-up
failure instead of loading; --exit-after N exits (code 3) after answering N questions;
--ready-after S takes S seconds to "load" (as the real worker's imports do) before it is ready.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

from index.store import open_index
from qa.config import Settings
from qa.pipeline import Pipeline
from qa.worker import serve
from tests.fakes import FakeEmbedder, FakeGenerator

REPLY = "It was launched in April 2022 [1]."


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    if "--fatal" in argv:
        print(json.dumps({"fatal": f"no index at {root}; build one with: python -m ingest"}),
              flush=True)
        return 1
    exit_after = int(argv[argv.index("--exit-after") + 1]) if "--exit-after" in argv else None
    if "--ready-after" in argv:
        time.sleep(float(argv[argv.index("--ready-after") + 1]))
    embedder = FakeEmbedder()
    pipeline = Pipeline(open_index(root, embedder.model_id, embedder.dimension), embedder,
                        FakeGenerator([REPLY] * 100), Settings(calibration=None))
    print(json.dumps({"ready": pipeline.index.generation.name}), flush=True)
    for answered, line in enumerate(sys.stdin, start=1):
        serve(lambda: pipeline, io.StringIO(line), sys.stdout)
        if exit_after is not None and answered >= exit_after:
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
