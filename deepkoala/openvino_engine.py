"""OpenVINO as an optional inference engine (`pip install deepkoala[openvino]`).

On a CPU, OpenVINO compiles the network for the machine and runs it in
bfloat16 where the CPU has bfloat16 units, faster than TensorFlow's own
bfloat16 (`docs/performance.md`). `Colorizer.set_engine("openvino")` routes
the network call of every colorizing path through it; reading, color math
and merging stay deepkoala's.

The network is exported once (Keras' `tf_saved_model` export, in the
colorizer's training precision, float32 weights), converted to OpenVINO's
format and kept in `$DEEPKOALA_HOME/openvino/<digest>/`, where the digest
covers the colorizer's settings and weights: a second process, or a second
colorizer with the same weights, compiles the cached files without exporting
again. Changing the weights or a decoding setting gives a new digest.

Example:
>>> colorizer = Colorizer.from_preset("koala-lite0").set_engine("openvino")  # doctest: +SKIP
>>> colorizer.colorize("old_photo.jpg")  # doctest: +SKIP
"""

import hashlib
import json
import os
import tempfile

import numpy as np

from deepkoala.atomic import atomic_write
from deepkoala.paths import deepkoala_home

ENGINES = ("keras", "openvino")
# OpenVINO's INFERENCE_PRECISION_HINT for each precision; "auto" lets OpenVINO
# choose (bfloat16 on CPUs with bfloat16 units, else float32).
_HINTS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}
MODEL_FILE = "model.xml"


def check_engine(engine):
    """Return `engine` if it is one of `ENGINES`, else raise a `ValueError` naming it.

    Example:
    >>> check_engine("openvino")
    'openvino'
    """
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
    return engine


def import_openvino():
    """The `openvino` module, or an `ImportError` that names the extra to install.

    Example:
    >>> openvino = import_openvino()  # doctest: +SKIP
    """
    try:
        import openvino
    except ImportError as error:
        raise ImportError(
            "The openvino engine needs OpenVINO: pip install deepkoala[openvino]"
        ) from error
    return openvino


def model_digest(colorizer):
    """A sha256 of the colorizer's settings and weights: the cached model's name.

    Example:
    >>> len(model_digest(colorizer))  # doctest: +SKIP
    64
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(colorizer.get_config(), sort_keys=True, default=list).encode())
    for weight in colorizer.get_weights():
        digest.update(str(weight.shape).encode())
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def cached_model(colorizer, cache_dir=None):
    """The path of the colorizer's OpenVINO model, exported and converted on first use.

    Args:
        colorizer (deepkoala.Colorizer): the colorizer.
        cache_dir (str | None): default `$DEEPKOALA_HOME/openvino`.

    Returns:
        str: the `model.xml` of the converted network (its weights beside it).

    Example:
    >>> cached_model(colorizer)  # doctest: +SKIP
    '~/.keras/deepkoala/openvino/3f2a.../model.xml'
    """
    openvino = import_openvino()
    cache_dir = cache_dir or os.path.join(deepkoala_home(), "openvino")
    folder = os.path.join(cache_dir, model_digest(colorizer))
    path = os.path.join(folder, MODEL_FILE)
    if os.path.isfile(path):
        return path
    try:
        with (
            tempfile.TemporaryDirectory() as scratch,
            atomic_write(folder, folder=True) as partial,
        ):
            saved_model = os.path.join(scratch, "saved_model")
            colorizer.export(saved_model, format="tf_saved_model")
            # float32 weights: the colors stay the Keras network's (float16 would move them).
            model = openvino.convert_model(saved_model)
            openvino.save_model(model, os.path.join(partial, MODEL_FILE), compress_to_fp16=False)
    except OSError:
        if not os.path.isfile(path):
            raise
        # Another process converted the same model meanwhile: its files are as good.
    return path


class OpenVINOEngine:
    """The colorizer's network compiled by OpenVINO for the CPU.

    Args:
        colorizer (deepkoala.Colorizer): the colorizer to run.
        precision (str): "auto" (OpenVINO's choice: bfloat16 where the CPU
            has the units), "float32", "bfloat16" or "float16".
        cache_dir (str | None): where converted models are kept.

    Example:
    >>> engine = OpenVINOEngine(colorizer, "auto")  # doctest: +SKIP
    >>> chroma = engine([scaled_lightness])  # doctest: +SKIP
    """

    def __init__(self, colorizer, precision="auto", cache_dir=None):
        openvino = import_openvino()
        hints = {} if precision == "auto" else {"INFERENCE_PRECISION_HINT": _HINTS[precision]}
        core = openvino.Core()
        self.path = cached_model(colorizer, cache_dir)
        self.compiled = core.compile_model(core.read_model(self.path), "CPU", hints)
        self.precision = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self._request = self.compiled.create_infer_request()
        # The converted model's inputs, in the Keras network's input order.
        by_name = {name: port for port in self.compiled.inputs for name in port.get_names()}
        self._ports = [by_name[tensor.name] for tensor in colorizer.inputs]

    def __call__(self, inputs):
        """The network's output for its inputs (a list, in the network's input order).

        Returns:
            numpy.ndarray: (B, S, S, 2) float32 a*b* / 128.
        """
        outputs = self._request.infer(dict(zip(self._ports, inputs, strict=True)))
        return np.array(outputs[self.compiled.output(0)], dtype=np.float32)
