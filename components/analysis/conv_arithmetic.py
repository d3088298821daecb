"""Conv arithmetic of the notes: output size and zero padding."""

from __future__ import annotations

from components.checks import invalid_value


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(invalid_value(name, value, f"an integer >= {minimum}"))


def same_padding(kernel):
    """Zero padding that keeps the size at stride 1: `(k - 1) / 2`.

    The notes ("Notes on CNNs"): zero padding `= (k-1)/2` where k is the
    filter size. Only odd kernels have such a padding.

    Example:

    >>> same_padding(3), same_padding(7)
    (1, 3)
    """
    _check_int("kernel", kernel, 1)
    if kernel % 2 == 0:
        raise ValueError(
            "Invalid value received for argument `kernel`. An even kernel has no "
            f"symmetric 'same' padding: (k - 1) / 2 = {(kernel - 1) / 2}. Received: "
            f"kernel={kernel}"
        )
    return (kernel - 1) // 2


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """Output size of a convolution or pooling: `(W - K + 2P) / S + 1`.

    The notes print `(w-k+2P)/2 + 1`: the divisor is the stride S, not 2 (the
    two agree only at stride 2). A dilated kernel covers
    `K_eff = dilation * (K - 1) + 1` input pixels. CS231n calls a setting
    whose division leaves a remainder invalid ("the neurons don't fit
    neatly"); so does this function, rather than silently flooring.

    Args:
        size: Integer. Input width (or height) W.
        kernel: Integer. Kernel size K.
        stride: Integer. Stride S.
        padding: Integer. Zero padding P on each side.
        dilation: Integer. Dilation rate.

    Returns:
        The output size, an integer.

    Example:

    >>> conv_output_size(227, 11, stride=4)  # AlexNet's first layer
    55
    >>> conv_output_size(7, 3, stride=1, padding=1)
    7
    """
    _check_int("size", size, 1)
    _check_int("kernel", kernel, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)
    effective = dilation * (kernel - 1) + 1
    span = size - effective + 2 * padding
    if span < 0:
        raise ValueError(
            f"The kernel does not fit: its effective size {effective} is larger than "
            f"the padded input {size + 2 * padding} (size={size}, padding={padding})."
        )
    if span % stride:
        raise ValueError(
            f"The sizes do not fit: (W - K + 2P) / S = ({size} - {effective} + "
            f"{2 * padding}) / {stride} is not an integer."
        )
    return span // stride + 1
