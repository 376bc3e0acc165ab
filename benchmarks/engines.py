"""The network's forward speed on each inference engine and thread setting; prints JSON.

    python benchmarks/engines.py [--backbones efficientnet_lite0] [--batch-size 16]
    python benchmarks/engines.py --preset koala-lite0

One colorizer per backbone (random weights), or the trained preset, is saved once, then each engine
loads that same file in a fresh process and times `--batches` forward passes
of one batch already in memory (best of `--repeats`), at the colorizer's
working size:

- tensorflow: Keras on TensorFlow, `predict_on_batch` (a traced graph), float32;
- tensorflow-auto: the same with `precision="auto"`, what a user gets (with
  `--preset`, the preset's measured parts in half precision);
- tensorflow-bfloat16: the same with `set_precision("bfloat16")`;
- tensorflow-xla: the same with `jit_compile=True`;
- tensorflow-1-thread: TensorFlow with one intra-op and one inter-op thread;
- jax: Keras on JAX (needs `pip install jax`), and jax-bfloat16;
- onnxruntime: the model exported by `Colorizer.export` (needs
  `pip install deepkoala[export]`);
- openvino: that ONNX file compiled by OpenVINO for the CPU with its default
  hints (bfloat16 where it finds AMX), and openvino-float32 with
  `INFERENCE_PRECISION_HINT=f32` (needs `pip install openvino`).

Each engine's output is compared with TensorFlow's on the same batch
(`max_abs_difference`, in the network's a*b* / 128 units, and
`max_ab_difference` in CIELAB units). An engine that
is not installed is reported as skipped.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ENGINES = (
    "tensorflow", "tensorflow-auto", "tensorflow-bfloat16", "tensorflow-xla",
    "tensorflow-1-thread", "jax", "jax-bfloat16", "onnxruntime", "openvino", "openvino-float32",
)  # fmt: skip
# The engines that run the exported ONNX file.
ONNX_ENGINES = ("onnxruntime", "openvino", "openvino-float32")


def _measure(engine, model_path, batch_path, batches, repeats, preset=None):
    """Runs in the engine's own process; returns (images/s, outputs of the batch)."""
    import numpy as np

    batch = np.load(batch_path)
    if engine == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def forward():
            return session.run(None, {name: batch})[0]

    elif engine.startswith("openvino"):
        import openvino

        hints = {"INFERENCE_PRECISION_HINT": "f32"} if engine == "openvino-float32" else {}
        core = openvino.Core()
        model = core.read_model(model_path)
        model.reshape(list(batch.shape))  # static: a mid-level map's reshapes need it
        compiled = core.compile_model(model, "CPU", hints)
        request = compiled.create_infer_request()

        def forward():
            return request.infer({0: batch})[compiled.output(0)]

    else:
        if engine == "tensorflow-1-thread":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        from deepkoala import Colorizer

        # A preset by name carries its precision measurements ("auto" reads them).
        colorizer = Colorizer.from_preset(preset) if preset else Colorizer.load(model_path)
        precisions = {"-bfloat16": "bfloat16", "-auto": "auto"}
        suffix = next((s for s in precisions if engine.endswith(s)), None)
        colorizer.set_precision(precisions.get(suffix, "float32"))
        if engine == "tensorflow-xla":
            colorizer.jit_compile = True

        def forward():
            return colorizer.predict_on_batch(batch)

    from colorize import best_rate  # the sibling benchmark's timer

    def run():
        return [forward() for _ in range(batches)]

    run()  # warm-up: tracing and compilation
    rate = best_rate(run, batches * len(batch), repeats)
    return rate, np.asarray(forward())


def _run_engine(engine, folder, backbone, args):
    """One engine in a fresh process; its figures, or why it was skipped."""
    backend = "jax" if engine.startswith("jax") else "tensorflow"
    environment = dict(os.environ, KERAS_BACKEND=backend)
    model = os.path.join(folder, "colorizer.onnx" if engine in ONNX_ENGINES else "model.keras")
    command = [
        sys.executable, __file__, "--worker", engine, "--model", model,
        "--batch", os.path.join(folder, "batch.npy"), "--out", os.path.join(folder, engine),
        "--batches", str(args.batches), "--repeats", str(args.repeats),
        *(["--preset", args.preset] if args.preset else []),
    ]  # fmt: skip
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
        return {"engine": engine, "backbone": backbone, "skipped": reason}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbones", nargs="+", default=["inception_resnet_v2", "efficientnet_lite0"]
    )
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", help="time this trained preset instead (its own size)")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import numpy as np

    if args.worker:
        rate, outputs = _measure(
            args.worker, args.model, args.batch, args.batches, args.repeats, args.preset
        )
        np.save(args.out + ".npy", outputs)
        print(json.dumps({"engine": args.worker, "forward_images_per_s": round(rate, 3)}))
        return 0

    from deepkoala import Colorizer
    from deepkoala.precision import cpu_bfloat16_units

    for backbone in [args.preset] if args.preset else args.backbones:
        with tempfile.TemporaryDirectory() as folder:
            if args.preset:
                colorizer = Colorizer.from_preset(args.preset)
            else:
                colorizer = Colorizer(backbone=backbone, backbone_weights=None)
            size = colorizer.image_size
            colorizer.save(os.path.join(folder, "model.keras"))
            if set(ONNX_ENGINES) & set(args.engines):
                try:
                    colorizer.export(os.path.join(folder, "colorizer.onnx"))
                except ImportError as error:
                    print(json.dumps({"engine": "onnxruntime", "skipped": str(error)}))
            del colorizer
            rng = np.random.default_rng(0)
            batch = rng.uniform(-1, 1, (args.batch_size, size, size, 1)).astype("float32")
            np.save(os.path.join(folder, "batch.npy"), batch)
            reference = None
            for engine in args.engines:
                figures = _run_engine(engine, folder, backbone, args)
                figures.update(
                    backbone=backbone, image_size=size, batch_size=args.batch_size,
                    cpu_bfloat16_units=cpu_bfloat16_units()[0],
                )  # fmt: skip
                outputs_path = os.path.join(folder, engine + ".npy")
                if "skipped" not in figures:
                    outputs = np.load(outputs_path)
                    if reference is None:
                        reference = outputs
                    difference = float(np.abs(outputs - reference).max())
                    figures["max_abs_difference"] = difference
                    figures["max_ab_difference"] = round(difference * 128, 3)  # CIELAB units
                print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
