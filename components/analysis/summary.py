"""A per-layer table: output shape, parameters, multiply-adds, receptive field."""

from __future__ import annotations

import dataclasses

import keras

from components.analysis.flops import flops, layer_macs
from components.analysis.model_graph import walk
from components.analysis.receptive_field import receptive_field


@dataclasses.dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple
    params: int
    macs: int
    receptive_field: int | None


@dataclasses.dataclass
class ModelSummary:
    """What `summarize` returns: rows, totals, and a text table (`str()`)."""

    rows: list
    total_params: int
    total_macs: int

    def row(self, name):
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def __str__(self):
        header = f"{'layer':<28}{'type':<20}{'output shape':<20}{'params':>12}{'MACs':>15}{'RF':>6}"
        lines = [header, "-" * len(header)]
        for r in self.rows:
            shape = "x".join(str(d) for d in r.output_shape[1:])
            rf = "" if r.receptive_field is None else str(r.receptive_field)
            lines.append(
                f"{r.name[:27]:<28}{r.type[:19]:<20}{shape:<20}{r.params:>12,}{r.macs:>15,}{rf:>6}"
            )
        lines.append("-" * len(header))
        lines.append(f"{'total':<68}{self.total_params:>12,}{self.total_macs:>15,}")
        return "\n".join(lines)


def summarize(model):
    """Tabulates every layer: output shape, parameters, multiply-adds, receptive field.

    For people who would rather read a table than count by hand. The notes'
    comparison falls out of it: three stacked 3x3 convolutions on C channels
    hold `3 * (3 * 3 * C) * C = 27 C^2` weights and see 7x7, where one 7x7
    convolution holds `49 C^2` for the same view (with no non-linearities in
    between).

    Args:
        model: A functional or Sequential `keras.Model` (nested models are
            shown as one row).

    Returns:
        A `ModelSummary`; `print(summary)` shows the table.

    Example:

    >>> import keras
    >>> stack = keras.Sequential([keras.Input((16, 16, 8))] + [
    ...     keras.layers.Conv2D(8, 3, padding="same", use_bias=False) for _ in range(3)])
    >>> summarize(stack).total_params  # 27 * 8**2
    1728
    """
    fields = receptive_field(model)
    rows = []
    for node, _ in walk(model):
        layer = node.operation
        if not node.input_tensors:
            continue
        out_shape = tuple(node.output_tensors[0].shape)
        in_shape = tuple(node.input_tensors[0].shape)
        if isinstance(layer, keras.Model):
            macs = flops(layer)["total_macs"]
        else:
            macs = layer_macs(layer, in_shape, out_shape)
        rows.append(
            LayerRow(
                name=layer.name,
                type=type(layer).__name__,
                output_shape=out_shape,
                params=layer.count_params(),
                macs=macs,
                receptive_field=fields.get(layer.name),
            )
        )
    return ModelSummary(
        rows=rows,
        total_params=model.count_params(),
        total_macs=sum(r.macs for r in rows),
    )
