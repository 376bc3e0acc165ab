"""A Ctrl-C that reaches the command even where a library swallows it on its way up.

Python raises a Ctrl-C as a `KeyboardInterrupt` wherever the main thread is,
and it can be lost there:

- raised in a garbage-collector callback or a finalizer (JAX registers such a
  callback, and TensorFlow imports JAX when it is installed), Python drops it:
  "Exception ignored in ...";
- raised while C code imports a module, it comes back as a `SystemError`, which
  an `except Exception` in a library may catch and log (seen in TensorFlow's
  `nest.flatten` during the cache build).

While `delivered()` is active (each command of the `deepkoala` command line), a
Ctrl-C is remembered until the command has ended: `check()`, called between the
batches of the long loops (the cache build, colorizing), raises it again, and
one that Python dropped is sent again 50 ms later.
"""

import contextlib
import os
import signal
import sys
import threading

_pending = threading.Event()


def check():
    """Raise `KeyboardInterrupt` if a Ctrl-C arrived under `delivered()` and was lost.

    A safe point between two steps of a long loop; outside `delivered()` it
    never raises.

    Example:
    >>> check()  # nothing pending: returns None
    """
    if _pending.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def delivered():
    """Within this block, a Ctrl-C cannot be lost (see the module's docstring).

    Left as it is where Ctrl-C is not Python's default (ignored by a job started
    in the background of a shell, or handled by the program), and off the
    main thread.

    Example:
    >>> with delivered():
    ...     pass
    """
    main_thread = threading.current_thread() is threading.main_thread()
    if not main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def on_interrupt(signum, frame):
        _pending.set()
        raise KeyboardInterrupt

    previous_hook = sys.unraisablehook

    def hook(unraisable):
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        else:
            previous_hook(unraisable)

    signal.signal(signal.SIGINT, on_interrupt)
    sys.unraisablehook = hook
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.unraisablehook = previous_hook
        _pending.clear()
