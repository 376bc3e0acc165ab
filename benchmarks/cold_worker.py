"""`deepkoala colorize PHOTO` in a fresh process, each step timed; prints one JSON object.

    python benchmarks/cold_worker.py PHOTO [PRECISION]

Run by `benchmarks/colorize.py --cold`. Only the standard library is
imported before the command line starts, as in `deepkoala colorize`; the
steps are timed by wrapping the functions the command line calls.
"""

import time

STARTED = time.perf_counter()

import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from unittest import mock  # noqa: E402


def main(photo, precision="auto"):
    from deepkoala import cli

    steps = {"python_imports": time.perf_counter() - STARTED}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                steps.setdefault(name, time.perf_counter() - begun)

        return wrapper

    patches = contextlib.ExitStack()
    quiet_import = cli._import_backend_quietly

    def import_backend():
        timed("backend_import", quiet_import)()
        # Keras is loaded now: wrap the steps that need it.
        from deepkoala import saving
        from deepkoala.colorizer import Colorizer

        build = Colorizer.from_config.__func__
        for target, name, step in (
            (saving, "load_preset_folder", "model_build_and_weights"),
            (Colorizer, "predict_chroma", "network_first_call"),
        ):
            wrapped = timed(step, getattr(target, name))
            patches.enter_context(mock.patch.object(target, name, wrapped))
        patches.enter_context(
            mock.patch.object(Colorizer, "from_config", classmethod(timed("model_build", build)))
        )

    with (
        patches,
        mock.patch.object(cli, "_import_backend_quietly", import_backend),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        code = cli.main(["colorize", photo, "--overwrite", "--precision", precision])
    total = time.perf_counter() - STARTED
    steps["model_weights"] = steps["model_build_and_weights"] - steps["model_build"]
    named = ("python_imports", "backend_import", "model_build_and_weights", "network_first_call")
    steps["photo_read_merge_write_and_rest"] = total - sum(steps[name] for name in named)
    steps["total_after_interpreter_start"] = total
    result = {name: round(seconds, 3) for name, seconds in steps.items()}
    print(json.dumps({**result, "exit_code": code}))
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
