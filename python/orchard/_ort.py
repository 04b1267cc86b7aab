"""Where ONNX Runtime's library comes from.

``orchard._core`` loads ``libonnxruntime.so`` at run time, as the CLI does
(``ORT_DYLIB_PATH``, ``$ORCHARD_HOME/lib``, next to the executable, a
``.venv``, ...). Inside a Python process the natural place is the
``onnxruntime`` package this one depends on: when ``ORT_DYLIB_PATH`` is unset
and ``$ORCHARD_HOME/lib`` has no library, :func:`ensure_onnxruntime` points
``ORT_DYLIB_PATH`` at the one in the installed ``onnxruntime`` wheel (found
without importing it). Called before anything loads a model.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from typing import Optional

_LIB = "libonnxruntime.so*"


def _orchard_home() -> str:
    return os.environ.get("ORCHARD_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache", "orchard"
    )


def _library_in(folder: str) -> Optional[str]:
    names = [
        p
        for p in glob.glob(os.path.join(folder, _LIB))
        if "providers" not in os.path.basename(p) and os.path.isfile(p)
    ]
    return max(names) if names else None


def onnxruntime_wheel_library() -> Optional[str]:
    """``libonnxruntime.so`` of the installed ``onnxruntime`` package, or None."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = _library_in(os.path.join(folder, "capi"))
        if found:
            return found
    return None


def ensure_onnxruntime() -> Optional[str]:
    """Sets ``ORT_DYLIB_PATH`` to the ``onnxruntime`` wheel's library when
    neither it nor ``$ORCHARD_HOME/lib`` names one; returns the path set, if any."""
    if os.environ.get("ORT_DYLIB_PATH"):
        return None
    if _library_in(os.path.join(_orchard_home(), "lib")):
        return None
    found = onnxruntime_wheel_library()
    if found:
        os.environ["ORT_DYLIB_PATH"] = found
    return found
