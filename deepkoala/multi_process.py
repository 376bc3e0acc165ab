"""Training in several processes (several hosts) with JAX: start-up and what processes share.

Every process runs the same script. `initialize` connects it to the others
(through JAX's coordination service, with gloo collectives on CPUs) and
returns the `keras.distribution.DataParallel` that spans every device of
every process; `Colorizer.fit(distribution=...)` then trains on this
process's shard of the photos with its part of the global batch, and only
process 0 writes files. See `docs/distributed.md`.
"""

import os

import keras
import numpy as np

# A dead process is noticed within this many seconds (JAX's default is 100).
HEARTBEAT_TIMEOUT_SECONDS = 20


def initialize(coordinator=None, num_processes=None, process_id=None):
    """Join a multi-process run; returns the `DataParallel` distribution to `fit` with.

    Arguments left None come from `KERAS_DISTRIBUTION_JOB_ADDRESSES` (its
    first address is the coordinator's), `KERAS_DISTRIBUTION_NUM_PROCESSES`
    and `KERAS_DISTRIBUTION_PROCESS_ID`, as `keras.distribution.initialize`
    reads them; with neither, `jax.distributed.initialize` looks for a
    cluster it knows (Slurm, Open MPI). Collectives between CPUs use gloo;
    GPUs use their own. A process that dies makes the others abort with
    JAX's message that another task died, once its heartbeats have been
    missing for `HEARTBEAT_TIMEOUT_SECONDS` (under 60 s in the tests),
    instead of hanging. Every process gets process 0's random seed.

    Args:
        coordinator (str | None): "HOST:PORT" of process 0.
        num_processes (int | None): how many processes.
        process_id (int | None): this one's number, 0 to num_processes - 1.

    Returns:
        keras.distribution.DataParallel: over every device of every process.

    Example:
    >>> distribution = initialize("10.0.0.1:1234", 2, 0)  # doctest: +SKIP
    >>> Colorizer().fit("photos/", distribution=distribution)  # doctest: +SKIP
    """
    if keras.backend.backend() != "jax":
        raise RuntimeError(
            "Multi-process training needs KERAS_BACKEND=jax (Keras 3 does not train with "
            "TensorFlow's MultiWorkerMirroredStrategy: keras-team/keras#20585). "
            f"Received: backend {keras.backend.backend()!r}"
        )
    import jax

    addresses = coordinator or os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in os.environ:
        process_id = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    if num_processes is not None and not (
        isinstance(process_id, int) and 0 <= process_id < num_processes
    ):
        raise ValueError(
            "`process_id` must be in [0, num_processes). "
            f"Received: process_id={process_id!r}, num_processes={num_processes!r}"
        )
    # Set before the backend starts: CPU collectives across processes need it.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=addresses.split(",")[0] if addresses else None,
        num_processes=num_processes,
        process_id=process_id,
        heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_SECONDS,
    )
    # Process 0's draw, so that every process builds the same initial weights
    # (keras.utils.set_random_seed after this call fixes it instead).
    seed = np.int32(np.random.SeedSequence().entropy % 2**31)
    keras.utils.set_random_seed(int(broadcast(seed)))
    return keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)


def process_shard(distribution):
    """(this process's index, the process count) when `distribution` spans processes, else None.

    Example:
    >>> process_shard(None) is None
    True
    """
    if distribution is None or keras.backend.backend() != "jax":
        return None
    import jax

    count = jax.process_count()
    return (jax.process_index(), count) if count > 1 else None


def is_writer():
    """Whether this process writes files: the only one, or process 0 of several.

    Example:
    >>> is_writer()
    True
    """
    if keras.backend.backend() != "jax":
        return True
    import jax

    return jax.process_index() == 0


def largest(value):
    """The largest of every process's `value` (an int).

    Example:
    >>> largest(3)  # one process  # doctest: +SKIP
    3
    """
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.asarray(value))))


def broadcast(value):
    """Process 0's `value` (an array or a nested list of arrays), on every process.

    Example:
    >>> weights = broadcast(colorizer.get_weights())  # doctest: +SKIP
    """
    import jax

    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return multihost_utils.broadcast_one_to_all(value)
