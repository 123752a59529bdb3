"""Embed chunk texts on Ray Data: the embedder runs in a pool of actors, each with its own copy.

    texts --one Arrow block of {row, text} per batch_size texts--map_batches(_EmbedBatch,
          ActorPoolStrategy(actors), batch_size)--> {row, vector} --placed by row-->
          (len(texts), dimension) float32

The path for corpora whose embedding outgrows one process (`python -m ingest --ray`). Each
actor unpickles the embedder it is given and loads the model itself (MiniLMEmbedder pickles
without its weights). The vectors are the local path's, bit for bit on the SQuAD articles:
every embed call gets the same texts as ingest.build.embed_chunks's would (same order, same
windows), and every output row carries its input position, so the order the actors finish in
does not matter.

Ray is optional: it is imported only here, inside functions, and a missing Ray is one line
naming the package (RayMissing). Without RAY_ADDRESS a private local Ray is started with as many
CPUs as actors (at least this machine's count), no dashboard and no usage reporting, and shut
down afterwards; with RAY_ADDRESS set, ray.init() joins that cluster instead, whose workers must
have this project and its requirements installed. A Ray already initialized in this process (a
test fixture, a notebook) is used as it is and left running.

Does not choose which chunks need embedding, order them or write anything (ingest.build does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from index.embedder import Embedder

RAY_REQUIREMENT = "ray[data]==2.60.0"
DEFAULT_RAY_ACTORS = 2  # this machine's cores; on a cluster, as many as its CPUs allow

__all__ = ["DEFAULT_RAY_ACTORS", "RAY_REQUIREMENT", "RayMissing", "check_ray", "embed_texts",
           "ray_session"]


class RayMissing(RuntimeError):
    """The Ray path was asked for but Ray Data is not installed."""


def check_ray() -> None:
    """Raise RayMissing unless Ray Data can be imported (cheap: nothing is imported)."""
    if find_spec("ray") is None or find_spec("pyarrow") is None:
        raise RayMissing("embedding on Ray needs Ray Data, which is not installed; install it "
                         f"with: pip install '{RAY_REQUIREMENT}'")


def _import_ray() -> Any:
    check_ray()
    import ray
    import ray.data

    return ray


@contextmanager
def ray_session(num_cpus: int | None = None) -> Iterator[Any]:
    """Yield the `ray` module with Ray initialized: a running one as it is, else RAY_ADDRESS's
    cluster, else a private local one with `num_cpus` CPUs, shut down on leaving."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    # No request leaves the machine: usage statistics would be posted to ray.io.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    joining = bool(os.environ.get("RAY_ADDRESS"))
    # A local Ray turns on token authentication (~/.ray/auth_token) and warns that it did so;
    # that is the setting we want, so the warning is noise on an ingest's stderr.
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    ray.init(num_cpus=None if joining else num_cpus, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_ray_data(ray: Any) -> None:
    """Our tqdm bar shows progress: no Ray Data bars, and its INFO and WARNING lines go only
    to its log file (/tmp/ray/session_*/logs/ray-data); errors still print."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:
        if handler.get_name() == "console":
            handler.setLevel(logging.ERROR)


class _EmbedBatch:
    """The actor's callable: one embedder, warmed up once, turning {row, text} batches into
    {row, vector} batches."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        warm_up = getattr(embedder, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "vector": self.embedder.embed([str(t) for t in batch["text"]])}


def embed_texts(embedder: Embedder, texts: Sequence[str], *, actors: int, batch_size: int,
                advance: Callable[[int], None] | None = None) -> np.ndarray:
    """The (len(texts), dimension) float32 vectors of `texts`, row i for texts[i], computed by
    `actors` copies of `embedder` (fewer if there are fewer batches) in calls of `batch_size`
    consecutive texts.

    advance(n) is called as each batch of n rows comes back. No text, no Ray started.
    """
    import numpy as np

    if actors < 1 or batch_size < 1:
        raise ValueError(f"actors and batch_size must be at least 1, got {actors} and "
                         f"{batch_size}")
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    if not texts:
        return vectors
    with ray_session(num_cpus=max(actors, os.cpu_count() or 1)) as ray:
        _quiet_ray_data(ray)
        import pyarrow as pa

        # One block per batch: map_batches then never cuts a batch across two blocks (which
        # split 838 SQuAD chunks into windows of 64 and 1, changing 14 vectors by 1e-7 and,
        # stored as float16, by one step), so each call gets exactly the local path's window.
        blocks = [pa.table({"row": range(start, min(start + batch_size, len(texts))),
                            "text": texts[start : start + batch_size]})
                  for start in range(0, len(texts), batch_size)]
        dataset = ray.data.from_arrow(blocks)
        embedded = dataset.map_batches(
            _EmbedBatch, fn_constructor_kwargs={"embedder": embedder}, batch_size=batch_size,
            batch_format="numpy", num_cpus=1,
            # More actors than batches would only load models that get no work.
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(blocks))))
        done = 0
        for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
            vectors[batch["row"]] = batch["vector"]
            done += len(batch["row"])
            if advance is not None:
                advance(len(batch["row"]))
    if done != len(texts):
        raise RuntimeError(f"Ray returned {done} vectors for {len(texts)} texts")
    return vectors
