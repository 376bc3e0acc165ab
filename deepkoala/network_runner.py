"""How a colorizer's network runs: its precision, its engine, an eager or a traced call.

Each `Colorizer` keeps one `NetworkRunner`; its public methods
(`set_precision`, `compute_precision`, `training_precision`, `set_engine`)
delegate here, and `Colorizer.predict_chroma` calls the runner for the
network's output.

- Precision: the backbone's and the head's layers get the dtype policies of
  the colorizer's `precision` (`deepkoala.precision.resolve`), in place; a
  pinned pair of policies (`training_precision`, for `fit`, the cache and
  `export`) wins while it is pinned.
- Traces: a traced prediction holds the policies it was traced under, so the
  trace of each pair is kept for a switch back; the first call of a small
  network runs eagerly, since tracing costs more than one batch.
- Engine: "keras", or "openvino" (`deepkoala.openvino_engine`), compiled on
  first use for the weights and settings of that moment.

Example:
>>> runner = colorizer._untracked.runner  # doctest: +SKIP
>>> chroma = runner([scaled_lightness])  # doctest: +SKIP
"""

import contextlib

import keras
import numpy as np

from deepkoala import guidance, openvino_engine
from deepkoala import precision as precision_module
from deepkoala.settings import HALF_WEIGHT_POLICIES

# A first call runs eagerly on networks up to this size: tracing costs more
# than one batch, but an eager call of a larger network keeps more memory
# (measured: +30 MB for EfficientNet-Lite0, +170 MB for Inception-ResNet-v2).
EAGER_FIRST_CALL_PARAMETERS = 20_000_000
# "auto" follows a colorizer built for mixed precision.
_MIXED_POLICIES = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


class NetworkRunner:
    """Runs one colorizer's network in its precision, on its engine.

    Args:
        colorizer (deepkoala.Colorizer): the colorizer (its `embedding` and `head`).
        training_policy (str): the colorizer's `dtype_policy`, resolved.

    Example:
    >>> runner = NetworkRunner(colorizer, "float32")  # doctest: +SKIP
    """

    def __init__(self, colorizer, training_policy):
        self.colorizer = colorizer
        self.precision = "auto"
        # The measured PSNR changes of half precision, by kind and part (a preset's).
        self.psnr_changes = None
        self.training_policy = training_policy
        # (backbone's, head's) policies: those set now, and pinned ones.
        self.policies = (training_policy,) * 2
        self.pinned = None
        self.eager_first = colorizer.count_params() <= EAGER_FIRST_CALL_PARAMETERS
        self.untraced = self.eager_first
        self.traced = {}
        self.engine = "keras"
        self.engine_runner = None

    @property
    def half_weights(self):
        """bool: The weights themselves are in half precision (`dtype_policy` "bfloat16"
        or "float16"): the colorizer computes in that precision only."""
        return self.training_policy in HALF_WEIGHT_POLICIES

    def resolved_precision(self):
        """`precision.resolve`'s (precision, part, why) for this colorizer."""
        policy = self.training_policy
        if self.half_weights:
            return policy, "network", f"the colorizer's dtype_policy {policy!r}: its weights"
        if self.precision == "auto" and policy in _MIXED_POLICIES:
            return _MIXED_POLICIES[policy], "network", f"the colorizer's dtype_policy {policy!r}"
        return precision_module.resolve(self.precision, self.psnr_changes)

    def use_measurements(self, scores):
        """Read a preset's measured PSNR changes (`<kind>_<part>_psnr_change` scores)."""
        self.psnr_changes = {
            kind: {
                part: scores.get(f"{kind}_{part}_psnr_change")
                for part in (precision_module.NETWORK, precision_module.HEAD)
            }
            for kind in ("bfloat16", "openvino")
        }
        self.apply()
        self.forget_engine()

    def set_precision(self, precision):
        """Colorize in `precision` from now on (the layers switch now)."""
        precision_module.check_precision(precision)
        if self.half_weights and precision not in ("auto", self.training_policy):
            raise ValueError(
                f"This colorizer's weights are in {self.training_policy} "
                f"(dtype_policy={self.training_policy!r}): it computes in {self.training_policy} "
                "only. Load it with another dtype_policy (None: float32 weights) to compute in "
                f"another precision. Received: precision={precision!r}"
            )
        self.precision = precision
        if precision != "auto":
            precision_module.warn_unsupported(self.resolved_precision()[0])
        self.apply()
        self.forget_engine()  # compiled for the old precision

    def set_engine(self, engine):
        """Run the network on `engine` from the next call."""
        openvino_engine.check_engine(engine)
        if engine == "openvino":
            openvino_engine.import_openvino()
        self.engine, self.engine_runner = engine, None

    def forget_compiled(self):
        """Drop every trace and compiled engine (the weights or a traced constant changed)."""
        self.colorizer.make_predict_function(force=True)
        self.traced.clear()
        self.forget_engine()

    def forget_engine(self):
        """Drop the compiled engine: the next call compiles the weights and settings of then."""
        self.engine_runner = None

    @contextlib.contextmanager
    def pinned_policies(self, policies):
        """Run the backbone and the head in these two dtype policies inside the block."""
        pinned = self.pinned
        self.pinned = policies
        self.apply()
        try:
            yield self.colorizer
        finally:
            self.pinned = pinned
            self.apply()

    def apply(self):
        """Put the layers in the pinned policies, else in `precision`'s."""
        policies = (self.training_policy,) * 2 if self.half_weights else self.pinned
        if policies is None:
            precision, part, _ = self.resolved_precision()
            half = precision_module.POLICIES[precision]
            policies = ("float32" if part == precision_module.HEAD else half, half)
        if policies == self.policies:
            return
        colorizer = self.colorizer
        # A traced prediction holds its policies: keep it for a switch back.
        self.traced[self.policies] = colorizer.predict_function
        embedding_policy, head_policy = policies
        precision_module.set_compute_policy(colorizer.embedding, embedding_policy)
        precision_module.set_compute_policy(colorizer.head, head_policy)
        self.policies = policies
        colorizer.predict_function = self.traced.get(policies)
        self.untraced = colorizer.predict_function is None and self.eager_first
        # Models built on these layers for other uses trace again too (the
        # embedder excepted: it always runs pinned to the training policy).
        guidance.forget_models(colorizer)

    def __call__(self, inputs):
        """The network's a*b* / 128 for its inputs, as the colorizer takes them.

        Args:
            inputs (numpy.ndarray | list): scaled lightness, or a list in the
                network's input order (a guided colorizer's).

        Returns:
            numpy.ndarray: (B, S, S, 2).
        """
        if self.engine == "openvino" and self.pinned is None:
            # (Scoring during `fit` stays on Keras: the weights are moving.)
            return self._engine()(inputs if isinstance(inputs, list) else [inputs])
        if self.untraced:
            self.untraced = False
            return keras.ops.convert_to_numpy(self.colorizer(inputs, training=False))
        return np.asarray(self.colorizer.predict_on_batch(inputs))

    def _engine(self):
        """The OpenVINO network compiled for the current weights and settings."""
        if self.engine_runner is None:
            precision = self.precision
            change = (self.psnr_changes or {}).get("openvino", {}).get("network")
            if precision == "auto" and change is not None:
                within = abs(change) <= precision_module.PSNR_TOLERANCE
                precision = "auto" if within else "float32"
            self.engine_runner = openvino_engine.OpenVINOEngine(self.colorizer, precision)
        return self.engine_runner
