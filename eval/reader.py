"""`python -m eval.reader`: the reader alone on SQuAD 2.0 questions of held-out articles.

Each question is read against its own paragraph, as SQuAD 2.0 scores a reader: how well the
margin (best span score minus no-answer score) separates answerable from unanswerable questions
(AUC), and exact match and F1 of the best span on the answerable ones. `python -m reader.train`
records the same scores in the reader's manifest; this command re-scores any reader directory.

Does not retrieve or generate (python -m eval scores the whole pipeline).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from common.cli import Parser, fail, prepare_environment
from reader.scores import sample, score

EXAMPLES = """examples:
  python -m eval.reader
      the committed reader on all 3,227 questions of the 8 held-out articles (about 2 min)
  python -m eval.reader --role calibration --limit 200 --reader /tmp/reader
"""


def main(argv: Sequence[str] | None = None) -> int:
    from pathlib import Path

    from reader.data import ROLES, DataError, articles_for, squad_examples
    from reader.model import READER_DIR

    parser = Parser(prog="python -m eval.reader", description=__doc__.split("\n\n")[0],
                    epilog=EXAMPLES)
    parser.add_argument("--reader", type=Path, default=READER_DIR,
                        help="reader directory (default: reader/model)")
    parser.add_argument("--role", choices=ROLES, default="heldout",
                        help="which articles of data/squad2/split.json (default: heldout)")
    parser.add_argument("--limit", type=int, default=None, help="a sample of N questions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    args = parser.parse_args(argv)
    prepare_environment()
    from reader.model import Reader, ReaderLoadError

    try:
        reader = Reader(args.reader)
        reader.warm_up()
        examples = sample(squad_examples(articles_for(args.role)), args.limit, args.seed)
    except (DataError, ReaderLoadError) as err:
        fail(parser.prog, str(err))
    print(json.dumps(score(reader, examples, args.role), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
