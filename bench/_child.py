"""Child-process entry of bench.common.run_child: call one function, write its result as JSON.

    python -m bench._child MODULE:FUNCTION ARGS.json RESULT.json

Does not print the result (stdout belongs to the measured code) and catches nothing: a failure
is the child's non-zero exit code and traceback.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import peak_rss_mb  # noqa: E402


def main(argv: list[str]) -> int:
    target, args_file, result_file = argv
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**json.loads(Path(args_file).read_text(encoding="utf-8")))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    Path(result_file).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
