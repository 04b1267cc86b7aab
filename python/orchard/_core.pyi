"""Type stubs of the extension module ``orchard._core`` (crates/orchard-py)."""

from typing import Any, List, Optional, Tuple

import pyarrow as pa

__version__: str

class OrchardError(Exception):
    """Any error of Orchard's engine."""

class UsageError(OrchardError):
    """The job cannot run as asked; the message says what to change."""

class StorageError(OrchardError):
    """A store could not be read or written."""

class ModelError(OrchardError):
    """The feature model could not be found, verified or loaded."""

def onnxruntime_library() -> Optional[str]:
    """The ONNX Runtime library this process loads (None: none found)."""

def extract(
    src: str,
    dst: Optional[str] = None,
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
    storage: Optional[str] = None,
) -> Tuple[pa.Table, pa.Table, str]:
    """Runs the extraction job; returns (rows, errors, run report as JSON)."""

class Featurizer:
    """Featurizes photos in Arrow batches with one of Orchard's models."""

    def __init__(
        self,
        model: str = "mobilenet_v2",
        threads: Optional[int] = None,
        fast_decode: bool = False,
        storage: Optional[str] = None,
    ) -> None: ...
    @property
    def model(self) -> str: ...
    @property
    def feature_width(self) -> int: ...
    @property
    def threads(self) -> int: ...
    def featurize(
        self,
        batch: Any,
        content_col: Optional[str] = None,
        path_col: Optional[str] = None,
    ) -> Any:
        """The batch with ``features`` and ``error`` added."""

class Classifier:
    """A loaded classifier bundle."""

    @staticmethod
    def load(
        dir: str,
        *,
        model: Optional[str] = None,
        unsure_below: Optional[float] = None,
        threads: Optional[int] = None,
        exact_decode: bool = False,
        tta: int = 1,
        glob: str = "*.jpg,*.jpeg,*.png,*.webp",
        storage: Optional[str] = None,
    ) -> "Classifier": ...
    @property
    def labels(self) -> List[str]: ...
    @property
    def model(self) -> str: ...
    def identify_json(self, photos: List[str], top: int = 3) -> str:
        """The answers of ``orchard identify --format jsonl`` as a JSON array."""

def list_photos(location: str, glob: str = "*.jpg,*.jpeg,*.png,*.webp", storage: Optional[str] = None) -> pa.Table:
    """``(path, label, size)`` of every photo under ``location``."""
