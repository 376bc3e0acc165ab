"""Argument checks shared by constructors: each error names the argument and value."""


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name, value):
    """Return `value` if it is an integer > 0, else raise a `ValueError` naming it."""
    if not _is_integer(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def check_positive_number(name, value):
    """Return `value` if it is a number > 0, else raise a `ValueError` naming it."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
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


def check_image_size(name, value):
    """Return `value` if it is a positive multiple of 8, else raise."""
    if not _is_integer(value) or value < 8 or value % 8:
        raise ValueError(f"`{name}` must be a positive multiple of 8. Received: {name}={value!r}")
    return value
