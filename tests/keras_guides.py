"""The keras-io guide tests (test_guide_*.py): a section that needs what minigrad does not
have yet is skipped with a marker naming it, and runs by itself once it exists."""
import pytest

import minigrad

# what each missing name waits for (the issue that adds it)
WAITS_FOR = {"layers.LSTM": "no plan (recurrent layers are in none of issues 11-14)",
             "ops.": "issue 13 (keras.ops)", "optimizers.": "issue 13 (optimizers)",
             "losses.": "issue 13 (losses)", "metrics.": "issue 13 (metrics)",
             "activations": "issue 13 (keras.activations)", "regularizers": "issue 13",
             "utils.to_categorical": "issue 13", "Layer.add_loss": "issue 13 (add_loss)",
             "Variable.assign_add": "issue 13 (weights' assign_add)",
             "Tensor.__getitem__": "issue 13 (slicing)", "random.": "issue 13 (keras.random)",
             "initializers.random_normal": "issue 13 (initializers)",
             "layers.": "issue 14 (layers)", "datasets.cifar10": "no plan (dataset download)",
             "utils.plot_model": "no plan (pydot/graphviz)", "applications": "no plan",
             "keras_format": "h5py (pip install 'minigrad[keras]')"}


def _has(name: str) -> bool:
    if name == "keras_format":  # .keras files need h5py (the minigrad[keras] extra)
        try:
            import h5py  # noqa: F401
        except ImportError:
            return False
        return True
    if name.startswith("initializers."):
        return name.split(".", 1)[1] in minigrad.initializers.ALIASES
    obj = minigrad
    if name.startswith("Layer."):
        obj, name = minigrad.layers.Layer, name.split(".", 1)[1]
    elif name.startswith("Tensor."):
        obj, name = minigrad.Tensor, name.split(".", 1)[1]
    elif name.startswith("Variable."):  # what add_weight returns
        obj, name = minigrad.Variable, name.split(".", 1)[1]
    for part in name.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def needs(*names):
    """Skip (with the reason) unless minigrad has every name (e.g. 'ops.ones')."""
    missing = [n for n in names if not _has(n)]
    why = "; ".join(f"{n}: {next((v for k, v in WAITS_FOR.items() if n.startswith(k)), '?')}"
                    for n in missing)
    return pytest.mark.skipif(bool(missing), reason=f"needs {why}")
