"""`model.summary()`: Keras 3's table, character for character, without `rich`.

Keras 3 (keras/src/utils/summary_utils.py) draws the table with rich: columns
at `positions` of `line_length` (88, or 108 with a "Connected to" column, at most
the terminal's width - 4), shrunk evenly to fit the borders, cells wrapped at
spaces and cut with "…", lines cropped at the terminal's width; nested models
are one row; the totals count bytes from
each weight's dtype and, once the optimizer has state, the optimizer's variables.
"""
from __future__ import annotations

import re
import shutil
import sys

from ..layers.base import Layer

_WORD = re.compile(r"\s*\S+\s*")


def print_summary(model, line_length=None, positions=None, print_fn=None,
                  expand_nested=False, show_trainable=False, layer_range=None) -> None:
    from .functional import Functional
    from .sequential import Sequential
    relevant = None
    if isinstance(model, Functional) and not isinstance(model, Sequential):
        layers, relevant = model._operations, model._nodes
        sequential_like = _sequential_like(model)
    else:
        layers, sequential_like = model.layers, True
    if sequential_like:
        default, positions = 88, positions or [0.45, 0.80, 1.0]
        header, align = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["left", "left", "right", "left"]
    if show_trainable:
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header, align = header + ["Trainable"], align + ["center"]
    columns = shutil.get_terminal_size().columns
    line_length = line_length or min(default, columns - 4)
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width

    def fields(layer: Layer, prefix: str = "") -> list:
        params = "0 (unbuilt)" if not layer.built else f"{layer.count_params():,}"
        row = [f"{prefix}{layer.name} ({type(layer).__name__})", _output_shape(layer), params]
        if not sequential_like:
            row.append(_connections(layer, relevant))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def rows_of(layer: Layer, level: int = 0) -> list:
        rows = [fields(layer, "   " * level + "└ " if level else "")]
        if expand_nested and getattr(layer, "layers", None):
            for sub in layer.layers:
                rows.extend(rows_of(sub, level + 1))
        return rows

    lo, hi = _layer_range(layers, layer_range)
    body = [row for layer in layers[lo:hi] for row in rows_of(layer)]
    # rich crops what is wider than the terminal (a line_length beyond it included)
    lines = [f'Model: "{model.name}"'] + [line[:columns] for line in
                                           _table(header, body, align, widths, line_length)]
    trainable, frozen = model.trainable_weights, model.non_trainable_weights
    totals = [("Trainable", _count(trainable), _nbytes(trainable)),
              ("Non-trainable", _count(frozen), _nbytes(frozen))]
    slots = getattr(model.optimizer, "_slots", None) if model.compiled else None
    if slots is not None:  # the slots, plus Keras's iteration and learning-rate scalars
        arrays = [a for s in slots for a in s.values()]
        totals.append(("Optimizer", sum(int(a.size) for a in arrays) + 2,
                       sum(int(a.size) * a.dtype.itemsize for a in arrays) + 8))
    lines.append(f" Total params: {sum(t[1] for t in totals):,} "
                 f"({_readable(sum(t[2] for t in totals))})")
    lines += [f" {label} params: {count:,} ({_readable(size)})" for label, count, size in totals]
    text = "\n".join(lines) + "\n"
    if print_fn is None:
        sys.stdout.write(text)
    else:
        print_fn(text)


def _sequential_like(model) -> bool:
    """A chain: one node per depth, each with one input, no layer called twice."""
    for nodes in model._nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].input_tensors) > 1):
            return False
    return all(sum(node in model._nodes for node in layer._inbound_nodes) <= 1
               for layer in model.layers)


def _output_shape(layer: Layer) -> str:
    if layer._inbound_nodes:  # as Keras: the shapes of the layer's latest call
        shapes = [_shape(x.shape) for x in layer._inbound_nodes[-1].outputs]
        return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"
    if layer._build_input_shape is None:
        return "?"
    if hasattr(layer, "output_shape") and layer.built:
        try:
            return _shape(layer.output_shape)
        except (AttributeError, ValueError):
            return "?"
    if type(layer).compute_output_shape is Layer.compute_output_shape:
        return "?"  # not declared: Keras prints "?" rather than run the layer
    out = layer.compute_output_shape(layer._build_input_shape)
    if isinstance(out, tuple) and all(s is None or isinstance(s, int) for s in out):
        return _shape(out)
    return "[" + ", ".join(_shape(s) for s in out) + "]"


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _connections(layer: Layer, relevant) -> str:
    parts = []
    for node in layer._inbound_nodes:
        if relevant and node not in relevant:
            continue
        for x in node.input_tensors:
            history = x._keras_history
            parts.append(f"{history.layer.name}[{history.node_index}][{history.tensor_index}]")
    return ", ".join(parts) or "-"


def _layer_range(layers: list, layer_range) -> tuple:
    if layer_range is None:
        return 0, len(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2 or \
            not all(isinstance(r, str) for r in layer_range):
        raise ValueError(f"layer_range must be a list or tuple of 2 strings (layer names or "
                         f"regexes). Received: {layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(f"Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _count(weights: list) -> int:
    return int(sum(w.size for w in weights))


def _nbytes(weights: list) -> int:
    unique = {id(w): w for w in weights}.values()
    return int(sum(w.size * w.dtype.itemsize for w in unique))


def _readable(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1 or unit == "PB":
            return f"{size:.2f} {unit}"
        size /= 1024


# ------------------------------------------------------- rich's table layout
def _table(header: list, rows: list, align: list, columns: list, line_length: int) -> list:
    """The heavy-headed, show_lines table rich draws for Keras's summary."""
    widths = [c + 2 for c in columns]                  # each cell pads 1 space a side
    excess = sum(widths) - (line_length - len(widths) - 1)
    if excess > 0:
        widths = _ratio_reduce(excess, widths)

    def render(cells: list, bar: str) -> list:
        wrapped = [_wrap(text, w - 2, a) for text, w, a in zip(cells, widths, align)]
        height = max(len(c) for c in wrapped)
        return [bar + bar.join(" " + (c[i] if i < len(c) else " " * (w - 2)) + " "
                               for c, w in zip(wrapped, widths)) + bar
                for i in range(height)]

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * w for w in widths) + right

    lines = [rule("┏", "━", "┳", "┓")] + render(header, "┃") + [rule("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        if i:
            lines.append(rule("├", "─", "┼", "┤"))
        lines += render(row, "│")
    lines.append(rule("└", "─", "┴", "┘"))
    return lines


def _ratio_reduce(total: int, values: list) -> list:
    """rich's ratio_reduce with equal ratios: take `total` off the widths evenly."""
    out, remaining, ratio_left = [], total, len(values)
    for value in values:
        cut = min(value, round(remaining / ratio_left))
        out.append(value - cut)
        remaining -= cut
        ratio_left -= 1
    return out


def _wrap(text: str, width: int, align: str) -> list:
    """rich's Text.wrap with overflow 'ellipsis': break at spaces, cut long words."""
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width or (offset and start):
            if start:
                breaks.append(start)
            offset = len(word)
    edges = [0] + breaks + [len(text)]
    lines = [text[a:b] for a, b in zip(edges, edges[1:])] or [""]
    out = []
    for line in lines:
        if len(line) > width:  # rstrip_end: drop trailing spaces beyond the width
            stripped = line.rstrip()
            line = line[:max(width, len(stripped))]
        if align != "left":
            line = line.rstrip()
        if len(line) > width:
            line = line[:width - 1] + "…"
        pad = width - len(line)
        if align == "right":
            line = " " * pad + line
        elif align == "center":
            line = " " * (pad // 2) + line + " " * (pad - pad // 2)
        else:
            line += " " * pad
        out.append(line)
    return out
