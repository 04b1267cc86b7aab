"""Orchard from Python: fruit photos → MobileNetV2 features → PCA → Parquet,
on Orchard's Rust engine.

Three entry points:

* :func:`extract` runs the job of ``orchard extract`` (same options, same
  output folder) and returns its rows as a ``pyarrow.Table``.
* :class:`Featurizer` turns Arrow batches of photo bytes (``content``) or
  paths (``path``, local or ``s3://``/``gs://``/``az://``, read in Rust) into
  ``features: list<float32>`` plus ``error`` (null when fine). A bad photo
  gets an error, never an exception. :mod:`orchard.spark` runs it inside
  Spark (``mapInArrow`` or a pandas UDF); it fits Ray Data's
  ``map_batches`` as well (``examples/ray_featurize.py``).
* :class:`Classifier` loads a bundle from ``orchard train`` and answers as
  ``orchard identify``.

Nothing starts at import: models (ONNX Runtime sessions), threads and store
clients are made on first use, once per process, and again in a forked
child. Rust work runs without the GIL; Ctrl-C interrupts it between batches.
Models live in ``$ORCHARD_HOME`` (default ``~/.cache/orchard``):
``orchard model fetch mobilenet_v2`` installs the default one.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import pyarrow as pa

from orchard import _core
from orchard._core import ModelError, OrchardError, StorageError, UsageError
from orchard._ort import ensure_onnxruntime

__version__: str = _core.__version__

__all__ = [
    "Classifier",
    "Featurizer",
    "ModelError",
    "OrchardError",
    "StorageError",
    "UsageError",
    "extract",
    "list_photos",
    "onnxruntime_library",
]

#: Storage options accepted as keyword arguments (those of ``orchard extract``'s
#: storage flags and the config file's ``[storage]`` table).
STORAGE_OPTIONS = (
    "region",
    "endpoint",
    "allowed_regions",
    "anonymous",
    "request_timeout_secs",
    "connect_timeout_secs",
    "max_retries",
    "retry_timeout_secs",
)

PathLike = Union[str, "os.PathLike[str]"]


def _storage_json(storage: Dict[str, Any], where: str) -> Optional[str]:
    unknown = sorted(set(storage) - set(STORAGE_OPTIONS))
    if unknown:
        raise TypeError(
            f"{where}() got unexpected keyword argument(s) {', '.join(unknown)}; "
            f"storage options are {', '.join(STORAGE_OPTIONS)}"
        )
    if isinstance(storage.get("allowed_regions"), str):
        storage = dict(storage, allowed_regions=[storage["allowed_regions"]])
    return json.dumps(storage) if storage else None


def onnxruntime_library() -> Optional[str]:
    """The ``libonnxruntime.so`` Orchard loads (None: none found, and the
    pure-Rust tract backend, about ten times slower, is used)."""
    ensure_onnxruntime()
    return _core.onnxruntime_library()


def extract(
    src: PathLike,
    dst: Optional[PathLike] = None,
    *,
    pca_k: int = 100,
    pca_variance: Optional[float] = None,
    standardize: bool = False,
    with_mean: bool = False,
    keep_features: bool = False,
    model: str = "mobilenet_v2",
    glob: str = "*.jpg,*.jpeg,*.png,*.webp",
    overwrite: bool = False,
    resume: bool = False,
    fast_decode: bool = False,
    threads: Optional[int] = None,
    batch_size: int = 32,
    return_errors: bool = False,
    **storage: Any,
) -> Union[pa.Table, Tuple[pa.Table, pa.Table]]:
    """Runs ``orchard extract src dst`` and returns the output's rows.

    Every photo under ``src`` (a folder, or an ``s3://``/``gs://``/``az://``
    prefix; the label is each photo's parent folder) goes through the model,
    then exact PCA. With ``dst`` the output folder is the CLI's, file for
    file (part files, ``_errors.parquet``, ``_labels.json``, ``_pca/``,
    ``_run.json``, ``_SUCCESS``); without it the job writes to a temporary
    folder that is removed once read.

    Returns a ``pyarrow.Table`` with ``path``, ``label``, ``label_index``,
    ``pca`` (and ``features`` with ``keep_features=True``); ``.to_pandas()``
    works. Its schema metadata holds ``_run.json`` under ``b"orchard.run"``.
    Photos that could not be used are not rows: they are in
    ``_errors.parquet`` (``path``, ``stage``, ``message``), returned as a
    second table with ``return_errors=True``.

    Options are the CLI's: ``pca_k`` (default 100) or ``pca_variance``
    (smallest k explaining that share), ``standardize``/``with_mean``
    (Spark's StandardScaler), ``keep_features``, ``model`` (a name installed
    in ``$ORCHARD_HOME`` or an ``.onnx`` path), ``glob``, ``overwrite``,
    ``resume``, ``fast_decode``, ``threads`` (default every core),
    ``batch_size``; storage keyword arguments as in :data:`STORAGE_OPTIONS`
    (``endpoint="http://127.0.0.1:9000"``, ``region=...``).

    Raises :class:`UsageError` (bad arguments, an output that is not empty,
    a model that is not installed: the message says what to change),
    :class:`StorageError`, :class:`ModelError`; ``KeyboardInterrupt`` stops
    the job (finish it with ``resume=True``).
    """
    ensure_onnxruntime()
    rows, errors, _report = _core.extract(
        os.fspath(src),
        None if dst is None else os.fspath(dst),
        pca_k=pca_k,
        pca_variance=pca_variance,
        standardize=standardize,
        with_mean=with_mean,
        keep_features=keep_features,
        model=model,
        glob=glob,
        overwrite=overwrite,
        resume=resume,
        fast_decode=fast_decode,
        threads=threads,
        batch_size=batch_size,
        storage=_storage_json(storage, "extract"),
    )
    return (rows, errors) if return_errors else rows


def list_photos(
    location: PathLike, *, glob: str = "*.jpg,*.jpeg,*.png,*.webp", **storage: Any
) -> pa.Table:
    """The photos ``extract`` would read under ``location`` (a folder or an
    ``s3://``/``gs://``/``az://`` prefix): a table of ``path``, ``label``
    (the parent folder's name) and ``size``, sorted. With
    :func:`orchard.spark.featurize`'s ``path_col`` a Spark job then reads
    the photos from the store in Rust, without Hadoop's S3 connector."""
    return _core.list_photos(os.fspath(location), glob, _storage_json(storage, "list_photos"))


def run_report(table: pa.Table) -> Dict[str, Any]:
    """The run report (``_run.json``) of a table :func:`extract` returned."""
    metadata = table.schema.metadata or {}
    return json.loads(metadata[b"orchard.run"])


class Featurizer:
    """Photo bytes or paths in Arrow batches → Orchard's features.

    ``model`` is a model installed in ``$ORCHARD_HOME`` (``orchard model
    fetch``) or an ``.onnx`` path; ``threads`` the compute threads (default
    ``OMP_NUM_THREADS``, else every core); ``fast_decode`` decodes large
    JPEGs with DCT scaling (off: the seed's exact pixels); storage keyword
    arguments (:data:`STORAGE_OPTIONS`) reach paths in object stores.

    The model is loaded on first use, once per process (and again in a
    forked child). Instances pickle by their arguments.
    """

    def __init__(
        self,
        model: str = "mobilenet_v2",
        threads: Optional[int] = None,
        *,
        fast_decode: bool = False,
        **storage: Any,
    ) -> None:
        self._kwargs: Dict[str, Any] = dict(
            model=model, threads=threads, fast_decode=fast_decode, **storage
        )
        ensure_onnxruntime()
        self._inner = _core.Featurizer(
            model,
            threads,
            fast_decode,
            _storage_json(storage, "Featurizer"),
        )

    def __reduce__(self) -> Any:
        return (_featurizer_from_kwargs, (self._kwargs,))

    def __repr__(self) -> str:
        return f"orchard.Featurizer(model={self.model!r}, threads={self.threads})"

    @property
    def model(self) -> str:
        """The model's name."""
        return self._inner.model

    @property
    def feature_width(self) -> int:
        """Floats per photo (1280 for ``mobilenet_v2``)."""
        return self._inner.feature_width

    @property
    def threads(self) -> int:
        """Compute threads."""
        return self._inner.threads

    def featurize(
        self,
        batch: Any,
        *,
        content_col: Optional[str] = None,
        path_col: Optional[str] = None,
    ) -> Any:
        """``batch`` with ``features: list<float32>`` and ``error: string`` added.

        ``batch`` is a ``pyarrow.RecordBatch`` (→ a record batch), a
        ``pyarrow.Table`` or any object with ``__arrow_c_stream__`` (→ a
        table), passed without copies. Photos come from ``content_col``
        (binary: the bytes) or ``path_col`` (string: local paths or store
        URLs, read in Rust); by default ``content``, else ``path``. Rows keep
        their order; a photo that cannot be read, decoded or run has null
        features and its ``error`` (``"stage: reason"``), and never raises.
        """
        return self._inner.featurize(batch, content_col, path_col)

    __call__ = featurize


def _featurizer_from_kwargs(kwargs: Dict[str, Any]) -> Featurizer:
    return Featurizer(**kwargs)


class Classifier:
    """A fruit classifier bundle (``orchard train --classifier DIR``) with
    its feature model; answers as ``orchard identify``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @classmethod
    def load(
        cls,
        dir: PathLike,
        *,
        model: Optional[str] = None,
        unsure_below: Optional[float] = None,
        threads: Optional[int] = None,
        exact_decode: bool = False,
        tta: int = 1,
        glob: str = "*.jpg,*.jpeg,*.png,*.webp",
        **storage: Any,
    ) -> "Classifier":
        """Loads the bundle in ``dir``; its feature model must be installed
        in ``$ORCHARD_HOME`` (or be ``model``) with the sha256 it was trained
        on. Options are ``identify``'s: ``unsure_below``, ``threads``,
        ``exact_decode`` (off: large JPEGs decode fast, as ``identify``),
        ``tta`` (1 to 8 views), ``glob`` and storage keyword arguments."""
        ensure_onnxruntime()
        return cls(
            _core.Classifier.load(
                os.fspath(dir),
                model=model,
                unsure_below=unsure_below,
                threads=threads,
                exact_decode=exact_decode,
                tta=tta,
                glob=glob,
                storage=_storage_json(storage, "Classifier.load"),
            )
        )

    @property
    def labels(self) -> List[str]:
        """The species it knows."""
        return self._inner.labels

    @property
    def model(self) -> str:
        """The feature model's name."""
        return self._inner.model

    def identify(
        self,
        photos: Union[PathLike, Sequence[PathLike]],
        *,
        top: int = 3,
        as_table: bool = False,
    ) -> Union[List[Dict[str, Any]], pa.Table]:
        """Answers for ``photos``: a photo file, a folder or prefix (every
        photo under it matching the glob), or a list of them.

        One dict per photo, as ``orchard identify --format jsonl`` prints it:
        ``path``, ``label``, ``probability``, ``sure``, ``unsure_reason``
        (``"unfamiliar"``/``"ambiguous"`` or None), ``top`` (``[{"label",
        "probability"}]``, best first) and ``facts`` (or None); a photo that
        cannot be read or decoded gives ``{"path", "error"}``. With
        ``as_table=True`` a ``pyarrow.Table`` of the same.
        """
        if isinstance(photos, (str, os.PathLike)):
            photos = [photos]
        answers = json.loads(
            self._inner.identify_json([os.fspath(p) for p in photos], top)
        )
        if as_table:
            return pa.Table.from_pylist(
                [
                    dict(a, facts=None if a.get("facts") is None else json.dumps(a["facts"]))
                    for a in answers
                ]
            )
        return answers
