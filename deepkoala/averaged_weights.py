"""Validate, checkpoint and finish training with averaged weights."""

import keras
import numpy as np


class AveragedWeights(keras.callbacks.Callback):
    """Puts the optimizer's moving average of the weights in the model between epochs.

    With `keras.optimizers.Adam(use_ema=True)` the optimizer keeps an
    exponential moving average of the trained weights. This callback swaps
    it into the model before each epoch's validation, so validation, early
    stopping (`restore_best_weights`) and checkpoints all see the average,
    and swaps the raw weights back before the next epoch; `fit` ends with
    the average in the model, early or not.

    Keras' `SwapEMAWeights(swap_on_epoch=True)` swaps the two through the
    optimizer's own copy, so when training stops before the planned last
    epoch, `fit` copies the raw weights back into the model at the end;
    keeping the raw weights in host memory here leaves that copy alone.

    Put it first among the callbacks, so the ones after it see the average.

    Example:
    >>> model.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="mse")  # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[AveragedWeights()])  # doctest: +SKIP
    """

    def __init__(self):
        super().__init__()
        self._raw_weights = None

    def _optimizer(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "AveragedWeights needs an optimizer with `use_ema=True`. "
                f"Received: use_ema={getattr(optimizer, 'use_ema', None)!r}"
            )
        return optimizer

    def on_epoch_begin(self, epoch, logs=None):
        if self._raw_weights is not None:
            variables = self._optimizer()._trainable_variables
            for variable, raw in zip(variables, self._raw_weights, strict=True):
                variable.assign(raw)
            self._raw_weights = None

    def on_test_begin(self, logs=None):
        # fit validates before on_epoch_end: the average goes in here already.
        self._swap_in_average()

    def on_epoch_end(self, epoch, logs=None):
        self._swap_in_average()

    def _swap_in_average(self):
        if self._raw_weights is not None:
            return
        optimizer = self._optimizer()
        variables = optimizer._trainable_variables
        self._raw_weights = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
        for variable, average in zip(
            variables, optimizer._model_variables_moving_average, strict=True
        ):
            variable.assign(average)
