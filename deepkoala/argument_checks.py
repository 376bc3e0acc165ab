"""Argument checks shared by constructors: each error names the argument and value."""

import math


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name, value):
    """Return `value` if it is an integer > 0, else raise a `ValueError` naming it."""
    if not _is_integer(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def _is_finite_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_number(name, value):
    """Return `value` if it is a finite number > 0, else raise a `ValueError` naming it."""
    if not _is_finite_number(value) or value <= 0:
        raise ValueError(f"`{name}` must be a finite positive number. Received: {name}={value!r}")
    return value


def check_non_negative_number(name, value):
    """Return `value` if it is a finite number >= 0, else raise a `ValueError` naming it."""
    if not _is_finite_number(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return value


def check_filters(name, filters, length):
    """Return `filters` as a tuple of `length` positive integers, or raise."""
    if (
        not isinstance(filters, (list, tuple))
        or len(filters) != length
        or not all(_is_integer(f) and f > 0 for f in filters)
    ):
        raise ValueError(
            f"`{name}` must be {length} positive integers. Received: {name}={filters!r}"
        )
    return tuple(filters)


# Far above any working size in use; it keeps a typo from allocating 100 GB.
MAX_IMAGE_SIZE = 4096


def check_image_size(name, value):
    """Return `value` if it is a multiple of 8 in [8, 4096], else raise."""
    if not _is_integer(value) or not 8 <= value <= MAX_IMAGE_SIZE or value % 8:
        raise ValueError(
            f"`{name}` must be a multiple of 8 from 8 to {MAX_IMAGE_SIZE}. "
            f"Received: {name}={value!r}"
        )
    return value
