"""The graph of a functional model: which layer calls it holds, in what order they
run, and which neighbouring calls run fused.

`map_graph` walks back from the outputs to the inputs (Keras's algorithm, written
without recursion so that 2,000-layer models work), checks that every output can
be computed from the inputs, that no layer name repeats and that there is no
cycle. `Plan` turns the nodes into the steps a forward pass runs:
Conv2D (ReLU or linear) straight into MaxPooling2D becomes one fused op; Conv2D
straight into BatchNormalization (and ReLU, and MaxPooling2D) one convolution
wherever the BN runs in inference mode (the normalisation folded into the conv);
BatchNormalization straight into ReLU one op where the BN uses batch statistics;
and the model's
softmax output can be left out for the fused softmax cross-entropy loss.
Fusion is a property of the graph, so Sequential and functional models get it alike.
"""
from __future__ import annotations

import collections

from .. import tree
from ..layers.core import _WithActivation, can_fuse_conv_pool, conv_pool
from ..layers.normalization import bn_relu, can_fold_conv_bn, can_fuse_bn_relu, conv_bn, \
    is_relu
from ..layers.node import KerasTensor
from ..ops import activations
from ..tensor import Tensor


def _node_of(tensor):
    history = tensor._keras_history
    if history is None:
        raise ValueError(f"{tensor} was not produced by a layer call or an Input")
    return history.layer._inbound_nodes[history.node_index]


def map_graph(inputs: list, outputs: list) -> tuple:
    """(node set, {depth: [nodes]}, layers in run order) of the graph from
    `inputs` to `outputs`; ValueError if an output cannot be computed from the
    inputs, a layer name repeats, or the graph has a cycle."""
    input_ids = {id(x) for x in inputs}
    finished, in_progress = set(), set()
    ordered, first_seen = [], {}       # nodes inputs -> outputs; layer -> traversal index
    for output in outputs:
        stack = [(output, False)]
        while stack:
            tensor, expanded = stack.pop()
            node = _node_of(tensor)
            if expanded:
                in_progress.discard(node)
                finished.add(node)
                ordered.append(node)
                continue
            if node in finished:
                continue
            if not node.is_input and id(tensor) in input_ids:  # an intermediate tensor
                finished.add(node)                              # given as a model input
                continue
            if node in in_progress:
                raise ValueError(f"Tensor {tensor} from layer '{node.layer.name}' is part of a "
                                 f"cycle")
            first_seen.setdefault(node.layer, len(first_seen))
            in_progress.add(node)
            stack.append((tensor, True))
            if not node.is_input:
                stack.extend((x, False) for x in reversed(node.input_tensors))

    in_graph = set(ordered)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[node] = depth
        for parent in node.parent_nodes:
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for x in inputs:  # inputs no output depends on still belong to the model
        node = _node_of(x)
        if node.is_input and node.layer not in layer_depth:
            layer_depth[node.layer], node_depth[node] = 0, 0
            first_seen[node.layer] = -1

    nodes_by_depth = collections.defaultdict(list)
    for node, depth in node_depth.items():
        nodes_by_depth[depth].append(node)
    layers_by_depth = collections.defaultdict(list)
    for layer, depth in layer_depth.items():
        layers_by_depth[depth].append(layer)
    layers = []
    for depth in sorted(layers_by_depth, reverse=True):
        layers.extend(sorted(layers_by_depth[depth], key=lambda layer: first_seen[layer]))

    computable, done = {id(x) for x in inputs}, []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            for x in node.input_tensors:
                if id(x) not in computable:
                    raise ValueError(
                        f"Graph disconnected: cannot find parent for tensor {x} at layer "
                        f"'{node.layer.name}'. The model's outputs must be computed from its "
                        f"inputs; the layers reached without issue were: {done}")
            done.append(node.layer.name)
            if not node.is_input:  # an Input that is not a model input computes nothing
                computable.update(id(x) for x in node.outputs)
    missing = [x for x in outputs if id(x) not in computable]
    if missing:
        raise ValueError(f"Graph disconnected: output {missing[0]} is not connected to the "
                         f"model's inputs {inputs}")
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the '
                             f"model. All layer names should be unique.")
    return set(node_depth), dict(nodes_by_depth), layers


class Plan:
    """The forward pass of a graph as a list of steps, with fused calls and the
    point after which each intermediate tensor is no longer needed."""

    def __init__(self, inputs: list, outputs: list, nodes_by_depth: dict):
        self.inputs, self.outputs = inputs, outputs
        nodes = [n for depth in sorted(nodes_by_depth, reverse=True)
                 for n in nodes_by_depth[depth] if not n.is_input]
        uses = collections.Counter(id(x) for n in nodes for x in n.input_tensors)
        output_ids = {id(x) for x in outputs}
        consumer = {id(x): n for n in nodes for x in n.input_tensors}
        self.steps, fused = [], set()
        for node in nodes:
            if node in fused:
                continue
            reader = self._sole_reader(node, uses, output_ids, consumer)
            if reader is not None and can_fuse_conv_pool(node.layer, reader.layer):
                fused.add(reader)
                self.steps.append(("conv_pool", node, reader))
            elif reader is not None and can_fold_conv_bn(node.layer, reader.layer, False):
                relu = self._sole_reader(reader, uses, output_ids, consumer)
                relu = relu if relu is not None and is_relu(relu.layer) else None
                pool = self._sole_reader(relu or reader, uses, output_ids, consumer)
                pool = pool if pool is not None and can_fuse_conv_pool(node.layer, pool.layer) \
                    else None
                fused.update({reader, relu, pool} - {None})
                self.steps.append(("conv_bn", node, reader, relu, pool))
            elif reader is not None and can_fuse_bn_relu(node.layer, reader.layer):
                fused.add(reader)
                self.steps.append(("bn_relu", node, reader))
            else:
                self.steps.append(("call", node))
        self.logits_node = self._softmax_output(nodes, uses)
        self.single = {n for n in nodes if len(n.call_args) == 1 and not n.call_kwargs and
                       isinstance(n.call_args[0], KerasTensor) and len(n.outputs) == 1}
        # free each intermediate value after its last use (keeps predict's memory flat)
        last_use = {}
        for i, step in enumerate(self.steps):
            for x in step[1].input_tensors:
                last_use[id(x)] = i
        self.release = collections.defaultdict(list)
        for tensor_id, i in last_use.items():
            if tensor_id not in output_ids:
                self.release[i].append(tensor_id)

    @staticmethod
    def _sole_reader(node, uses, output_ids, consumer):
        """The node that alone reads this one-in, one-out node's output (and that output
        alone, no model output): a candidate to run fused with it."""
        if len(node.outputs) != 1 or len(node.call_args) != 1 or node.call_kwargs:
            return None
        out = node.outputs[0]
        reader = consumer.get(id(out))
        if reader is None or uses[id(out)] != 1 or id(out) in output_ids or \
                reader.call_args != (out,) or reader.call_kwargs:
            return None
        return reader

    def _softmax_output(self, nodes, uses):
        """The node of the model's only output when it ends in a softmax that the
        loss may fuse (its output read by nothing else in the graph)."""
        if len(self.outputs) != 1 or not nodes:
            return None
        node = _node_of(self.outputs[0])
        layer = node.layer
        if node.is_input or not isinstance(layer, _WithActivation) or \
                layer.activation is not activations.softmax or len(node.call_args) != 1 or \
                node.call_kwargs or uses[id(self.outputs[0])] or \
                layer.activity_regularizer is not None:  # it needs the softmax output
            return None
        return node

    @staticmethod
    def _conv_bn(step, env, training):
        """A Conv2D -> BatchNormalization (-> ReLU) (-> MaxPooling2D) step: one folded
        (and pooled) conv where the BN normalises with its moving statistics, else the
        conv then the rest fused (bn_relu) or the layers one by one."""
        _, conv, bn, relu, pool = step
        x = env[id(conv.call_args[0])]
        if can_fold_conv_bn(conv.layer, bn.layer, training):
            return conv_bn(conv.layer, bn.layer, x, "relu" if relu else None,
                           pool.layer if pool else None)
        x = conv.layer(x, training=training)
        if relu is not None and can_fuse_bn_relu(bn.layer, relu.layer):
            return bn_relu(bn.layer, relu.layer, x, training, pool.layer if pool else None)
        for node in (bn, relu):
            if node is not None:
                x = node.layer(x, training=training)
        return x if pool is None else pool.layer(x, training=training)

    def run(self, values: list, training, logits: bool = False) -> list:
        """The outputs for input `values` (Tensors, in `inputs` order). With
        `logits`, the softmax output node answers its pre-activation instead."""
        env = {id(x): v for x, v in zip(self.inputs, values)}
        release = self.release
        for i, step in enumerate(self.steps):
            node = step[1]
            if step[0] == "conv_pool":
                x = env[id(node.call_args[0])]
                env[id(step[2].outputs[0])] = conv_pool(node.layer, step[2].layer, x)
            elif step[0] == "conv_bn":
                last = step[4] or step[3] or step[2]
                env[id(last.outputs[0])] = self._conv_bn(step, env, training)
            elif step[0] == "bn_relu":
                x = env[id(node.call_args[0])]
                env[id(step[2].outputs[0])] = bn_relu(node.layer, step[2].layer, x, training)
            elif logits and node is self.logits_node:
                x = env[id(node.call_args[0])]
                node.layer.ensure_built(x.shape)
                env[id(node.outputs[0])] = node.layer.pre_activation(x)
            elif node in self.single:  # one tensor in, one out: no structure to walk
                out = node.layer(env[id(node.call_args[0])], training=training)
                if not isinstance(out, Tensor):
                    raise TypeError(f"layer {node.layer.name!r} returned {type(out).__name__}; "
                                    f"when the model was built it returned one tensor")
                env[id(node.outputs[0])] = out
            else:
                args, kwargs = node.fill_in(env)
                if "training" not in kwargs:
                    kwargs["training"] = training
                out = node.layer(*args, **kwargs)
                flat = tree.flatten(out)
                if len(flat) != len(node.outputs):
                    raise ValueError(f"layer {node.layer.name!r} returned {len(flat)} outputs; "
                                     f"when the model was built it returned "
                                     f"{len(node.outputs)}")
                for x, y in zip(node.outputs, flat):
                    env[id(x)] = y
            for tensor_id in release.get(i, ()):
                env.pop(tensor_id, None)
        return [env[id(x)] for x in self.outputs]
