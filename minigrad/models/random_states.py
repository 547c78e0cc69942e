"""The random state a run goes on from: minigrad's generator and the private ones of
layers seeded on their own. Saved with a model and restored when it is loaded
(models/saving.py, saving/keras_file.py, ModelCheckpoint), so a resumed run draws
what the uninterrupted one would have; warmup() puts it back after its step."""
from __future__ import annotations

import numpy as np

from .. import random


class RandomStates:
    """Mixed into Loop (so into every model)."""

    def _layers_by_path(self) -> dict:
        """Every layer below the model by path ('dropout', 'block/dropout', ...)."""
        paths, stack = {}, [("", self)]
        while stack:
            prefix, layer = stack.pop()
            for sub in layer._sublayers():
                path = prefix + sub.name
                if path not in paths:
                    paths[path] = sub
                    stack.append((path + "/", sub))
        return paths

    def _random_states(self) -> dict:
        """Every generator the rest of a run draws from: minigrad's, and the private
        ones of layers seeded on their own (Dropout(seed=...))."""
        return {"random_state": random.get_state(),
                "layer_random_states": {path: layer._rng.bit_generator.state
                                        for path, layer in self._layers_by_path().items()
                                        if _private_rng(layer)}}

    def _set_random_states(self, states: dict) -> None:
        if states.get("random_state"):
            random.set_state(states["random_state"])
        layers = self._layers_by_path()
        for path, state in (states.get("layer_random_states") or {}).items():
            if _private_rng(layers.get(path)):
                layers[path]._rng.bit_generator.state = state


def _private_rng(layer) -> bool:
    """Whether `layer` draws from a generator of its own (e.g. Dropout(seed=...))."""
    return isinstance(getattr(layer, "_rng", None), np.random.Generator)
