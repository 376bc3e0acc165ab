"""Inference precision: the compute dtype the network runs in, chosen for the machine.

A colorizer's `precision` ("auto", "float32", "bfloat16" or "float16") says
how `colorize` runs the network; training keeps the colorizer's own
`dtype_policy`. "auto" picks float16 on a GPU, bfloat16 on a CPU with
bfloat16 units under TensorFlow (whose oneDNN kernels use them: Intel AMX,
AVX512_BF16 on Intel and AMD Zen 4/5), and float32 everywhere else, or for
a model whose half-precision colors were measured to drift (see `compare`).
The color conversions and the output layers stay float32 in every case, and
"auto" keeps the backbone in float32 where its half precision moved a
model's colors beyond the tolerance (`resolve`).

The switch is in place: each layer's dtype policy is changed and the traced
prediction is dropped, so nothing is rebuilt or reloaded (variables stay
float32, as under Keras' mixed policies).

Example:
>>> from deepkoala import precision
>>> precision.check_precision("auto")
'auto'
>>> precision.POLICIES["bfloat16"]
'mixed_bfloat16'
"""

import functools
import platform
import warnings

import numpy as np

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
# The Keras dtype policy of each concrete precision.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# "auto" keeps a model in float32 when half precision moves its mean PSNR on
# held-out photos by more than this (dB).
PSNR_TOLERANCE = 0.05
# The parts that half precision can run in: the whole network, or the
# trainable head alone (the frozen backbone then stays float32).
NETWORK, HEAD = "network", "head"
# CPU flags (Linux's /proc/cpuinfo names) of bfloat16 matrix units, best first.
BFLOAT16_CPU_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX512_BF16"}
# The precisions already warned about in this process.
_WARNED = set()


def check_precision(precision):
    """Return `precision` if it is one of `PRECISIONS`, else raise a `ValueError` naming it."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}"
        )
    return precision


@functools.cache
def cpu_bfloat16_units():
    """The CPU's bfloat16 units, as `(name or None, how it was told)`.

    On Linux the flags of `/proc/cpuinfo` tell; elsewhere there is no
    reliable way from Python, so the answer is None ("auto" then stays
    float32; `bfloat16` can still be asked for).

    Example:
    >>> units, how = cpu_bfloat16_units()
    >>> units in (None, "AMX", "AVX512_BF16")
    True
    """
    if platform.system() != "Linux":
        return None, f"bfloat16 units cannot be detected on {platform.system()}"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError as error:
        return None, f"/proc/cpuinfo cannot be read ({error})"
    return units_from_flags(flags)


def units_from_flags(flags):
    """`cpu_bfloat16_units`' answer for a `/proc/cpuinfo` "flags" line.

    Example:
    >>> units_from_flags("flags : fpu sse2 avx2 avx512f avx512_bf16")
    ('AVX512_BF16', 'the CPU flag avx512_bf16')
    >>> units_from_flags("flags : fpu sse2 avx2")[0] is None
    True
    """
    present = set(flags.partition(":")[2].split())
    for flag, name in BFLOAT16_CPU_FLAGS.items():
        if flag in present:
            return name, f"the CPU flag {flag}"
    return None, "no bfloat16 CPU flag (amx_bf16, avx512_bf16)"


@functools.cache
def has_gpu():
    """Whether the Keras backend runs on a GPU (TensorFlow, JAX or PyTorch).

    Example:
    >>> has_gpu() in (True, False)
    True
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() in ("gpu", "cuda", "rocm")
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def resolve(precision, psnr_changes=None):
    """The concrete precision that `precision` means here, the part it runs in, and why.

    Half precision runs in the whole network, or in the trainable head
    alone with the frozen backbone in float32, whichever measured within
    `PSNR_TOLERANCE` first ("auto" only; an unmeasured part counts as within).

    Args:
        precision (str): one of `PRECISIONS`.
        psnr_changes (dict | None): the model's measured PSNR change (dB) by
            precision and part, e.g. `{"bfloat16": {"network": 0.13, "head": 0.0}}`
            (`compare`); None: never measured.

    Returns:
        tuple: ("float32" | "bfloat16" | "float16", the part in half
            precision: "network", "head" or None, the reason in words).

    Example:
    >>> resolve("float32")
    ('float32', None, 'asked for')
    >>> resolve("bfloat16")
    ('bfloat16', 'network', 'asked for')
    """
    import keras

    check_precision(precision)
    if precision == "float32":
        return "float32", None, "asked for"
    if precision != "auto":
        return precision, NETWORK, "asked for"
    if has_gpu():
        half, why = "float16", "a GPU"
    else:
        units, how = cpu_bfloat16_units()
        if units is None:
            return "float32", None, how
        if keras.backend.backend() != "tensorflow":
            return "float32", None, f"{units} is used by TensorFlow's CPU kernels only"
        half, why = "bfloat16", f"{units} ({how})"
    changes = (psnr_changes or {}).get(half, {})
    whole = changes.get(NETWORK)
    if whole is None or abs(whole) <= PSNR_TOLERANCE:
        return half, NETWORK, why
    head = changes.get(HEAD)
    if head is None or abs(head) <= PSNR_TOLERANCE:
        return (
            half,
            HEAD,
            (
                f"{why}; the backbone stays float32: in {half} it moved this model's PSNR by "
                f"{whole:+.2f} dB"
            ),
        )
    return "float32", None, f"{half} moved this model's PSNR by more than {PSNR_TOLERANCE} dB"


def unsupported_note(precision):
    """Why `precision` runs slower than float32 here, or None when it has its units.

    Example:
    >>> unsupported_note("float32") is None
    True
    """
    if precision in ("auto", "float32") or has_gpu():
        return None
    if precision == "float16":
        return (
            "float16 was asked for on a CPU: it works, and is slower than float32 (it pays on GPUs)"
        )
    units, how = cpu_bfloat16_units()
    if units is not None:
        return None
    return (
        f"bfloat16 was asked for on a CPU without bfloat16 units ({how}): it works, "
        "and is slower than float32"
    )


def warn_unsupported(precision, quiet=False):
    """Warn once per process when `precision` has no units here (`unsupported_note`).

    Args:
        precision (str): the precision asked for.
        quiet (bool): only remember it as warned (the caller said it already).

    Example:
    >>> warn_unsupported("float32")
    """
    note = unsupported_note(precision)
    if note and precision not in _WARNED:
        _WARNED.add(precision)
        if not quiet:
            # The caller of Colorizer.set_precision (through NetworkRunner.set_precision).
            warnings.warn(f"deepkoala: {note}.", stacklevel=4)


def all_layers(model):
    """Every layer of `model`, nested models' layers included, once each.

    Example:
    >>> import keras
    >>> inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> len(all_layers(keras.Sequential([keras.Input((2,)), inner])))
    2
    """
    seen, layers, stack = set(), [], list(reversed(getattr(model, "layers", [])))
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        layers.append(layer)
        stack.extend(reversed(getattr(layer, "layers", [])))
    return layers


def mark_float32_layers(model):
    """Remember the layers of a model built under a mixed policy that chose float32.

    Build the model under a mixed global policy (`keras.config.set_dtype_policy`):
    the layers made with `dtype="float32"` (color math, output layers)
    then say so, and `set_compute_policy` never changes them.

    Example:
    >>> import keras
    >>> keras.config.set_dtype_policy("mixed_float16")
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, dtype="float32")])
    >>> keras.config.set_dtype_policy("float32")
    >>> mark_float32_layers(model)
    >>> model.layers[0].keeps_float32
    True
    """
    for layer in all_layers(model):
        if layer.dtype_policy.name == "float32":
            layer.keeps_float32 = True


def set_compute_policy(model, policy):
    """Set every layer's dtype policy to `policy`, except the ones that keep float32.

    Variables keep their dtype (float32), as under Keras' mixed policies;
    a traced function of `model` must be traced again afterwards.

    Args:
        model (keras.Model): a model whose float32 layers were marked (`mark_float32_layers`).
        policy (str): "float32", "mixed_bfloat16" or "mixed_float16".

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> set_compute_policy(model, "mixed_bfloat16")
    >>> model.layers[0].compute_dtype
    'bfloat16'
    """
    for layer in all_layers(model):
        if not getattr(layer, "keeps_float32", False):
            layer.dtype_policy = policy


def compare(colorizer, photos, precision, part=NETWORK, batch_size=8):
    """What `precision` changes against float32 on color photos (uint8 RGB arrays).

    Both runs colorize the photos' lightness with the same colorizer; its
    own precision is untouched.

    Args:
        colorizer (deepkoala.Colorizer): the model to measure.
        photos (list[numpy.ndarray]): (H, W, 3) uint8 color originals.
        precision (str): "bfloat16" or "float16".
        part (str): "network" (all of it in `precision`) or "head" (the
            backbone in float32).
        batch_size (int): photos per network call.

    Returns:
        dict: "photos", "precision", "part", and `differences`' figures.

    Example:
    >>> report = compare(colorizer, [read_rgb_uint8("photo.jpg")], "bfloat16")  # doctest: +SKIP
    """
    if precision not in ("bfloat16", "float16"):
        raise ValueError(f'`precision` must be "bfloat16" or "float16". Received: {precision!r}')
    if part not in (NETWORK, HEAD):
        raise ValueError(f'`part` must be "network" or "head". Received: part={part!r}')
    half = POLICIES[precision]
    runs = {
        "float32": ("float32", "float32"),
        precision: (half if part == NETWORK else "float32", half),
    }
    outputs = {}
    for name, policies in runs.items():
        with colorizer._untracked.runner.pinned_policies(policies):
            images = colorizer.colorize(list(photos), batch_size=batch_size, verbose=0)
        outputs[name] = [np.asarray(image) for image in images]
    return {
        "photos": len(photos),
        "precision": precision,
        "part": part,
        **differences(photos, outputs["float32"], outputs[precision]),
    }


def differences(photos, reference, outputs):
    """What `outputs` change against `reference`, both colorized from `photos`.

    Args:
        photos (list[numpy.ndarray]): the (H, W, 3) uint8 color originals.
        reference (list[numpy.ndarray]): their float32 colorizations, uint8 RGB.
        outputs (list[numpy.ndarray]): the colorizations to measure, uint8 RGB.

    Returns:
        dict: "psnr_float32" and "psnr" (mean over the photos, dB, against
            the originals), "psnr_change", "largest_ab_difference" (the
            largest |a*| or |b*| difference of any pixel from the reference,
            in CIELAB units), "mean_ab_difference" and "within_tolerance".

    Example:
    >>> photo = np.zeros((2, 2, 3), "uint8")
    >>> differences([photo], [photo], [photo])["largest_ab_difference"]
    0.0
    """
    from deepkoala import color, metrics

    psnr = [
        float(np.mean([metrics.psnr(p, o) for p, o in zip(photos, images, strict=True)]))
        for images in (reference, outputs)
    ]
    largest, total, pixels = 0.0, 0.0, 0
    for full, reduced in zip(reference, outputs, strict=True):
        difference = np.abs(
            color.rgb_to_lab(full.astype(np.float32) / 255.0)[..., 1:]
            - color.rgb_to_lab(reduced.astype(np.float32) / 255.0)[..., 1:]
        )
        largest = max(largest, float(difference.max()))
        total += float(difference.sum())
        pixels += difference.size
    change = psnr[1] - psnr[0]
    return {
        "psnr_float32": psnr[0],
        "psnr": psnr[1],
        "psnr_change": change,
        "largest_ab_difference": largest,
        "mean_ab_difference": total / pixels,
        "within_tolerance": bool(abs(change) <= PSNR_TOLERANCE),
    }
