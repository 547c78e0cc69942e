"""The examples and the README, run the way users run them.

Each example runs as a subprocess at a small size (`--samples` etc.), writing
its pictures to a temporary folder; the assertions are on what it prints.
The RowAttention layer of examples/row_attention.py is gradient-checked in
float64, and every ```python block of README.md runs, in order, in one
namespace (a block after a `<!-- skip -->` line is left out).
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"
HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def run_example(name: str, out: Path, *args: str, code: str | None = None) -> str:
    """Run examples/<name> with `--out out` and `args`; its stdout (fails on error)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    argv = [str(EXAMPLES / name), "--out", str(out), *args]
    cmd = [sys.executable, str(EXAMPLES / name), *argv[1:]] if code is None else \
        [sys.executable, "-c", code, *argv]
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def load_example(name: str):
    if str(EXAMPLES) not in sys.path:  # as when run as a script: its helpers import
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pngs(folder: Path) -> set:
    return {p.name for p in folder.glob("*.png") if p.stat().st_size > 1000}


# ------------------------------------------------------------------ examples
def test_conv_shapes(tmp_path):
    out = run_example("conv_shapes.py", tmp_path)
    for call, shape in [("Conv2D(8, 3)", "(1, 8, 8, 8)"),
                        ("Conv2D(8, 5, strides=2)", "(1, 3, 3, 8)"),
                        ("Conv2D(8, 2)", "(1, 9, 9, 8)"),
                        ("Conv2D(8, 3, padding='same')", "(1, 10, 10, 8)"),
                        ("Conv2D(8, 5, strides=2, padding='same')", "(1, 5, 5, 8)"),
                        ("Conv2D(8, 3, dilation_rate=2)", "(1, 6, 6, 8)")]:
        assert re.search(re.escape(call) + r"\s+-> " + re.escape(shape), out), (call, out)
    assert "Total params: 6,378" in out
    assert "(None, 2, 2, 32)" in out  # the 'same' max pooling of a 3x3 map
    if HAS_MPL:
        assert pngs(tmp_path) == {"conv_shapes.png"}


def test_custom_kernel(tmp_path):
    out = run_example("custom_kernel.py", tmp_path)
    diffs = [float(d) for d in re.findall(r"max \|minigrad - numpy\| = (\S+)", out)]
    assert len(diffs) == 2 and max(diffs) < 1e-5, out
    assert "(1, 28, 28, 1) -> Sobel x (1, 26, 26, 1)" in out
    assert "(1, 32, 32, 3) -> luminance diagonal difference (1, 31, 31, 1)" in out
    if HAS_MPL:
        assert pngs(tmp_path) == {"custom_kernel.png"}


def test_examples_run_without_matplotlib(tmp_path):
    # as `python examples/<script>.py` would: the script's folder first on sys.path
    hide = ("import os, runpy, sys; sys.modules['matplotlib'] = None; sys.argv = sys.argv[1:]; "
            "sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0]))); "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    out = run_example("custom_kernel.py", tmp_path, code=hide)
    assert "install minigrad[plot] for the pictures" in out
    assert "max |minigrad - numpy|" in out
    assert pngs(tmp_path) == set()


def test_learned_filters(tmp_path):
    out = run_example("learned_filters.py", tmp_path, "--samples", "512", "--test-samples",
                      "200", "--batch-size", "64", "--verbose", "0")
    assert "first-layer kernel (3, 3, 1, 32)" in out
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert re.search(rf"^  {key}\s+\d\.\d{{4}}$", out, re.M), (key, out)
    accuracy = float(re.search(r"test accuracy (\S+) on 200 test images", out).group(1))
    assert 0.2 < accuracy <= 1.0, out  # far above chance (0.1) after 8 batches
    if HAS_MPL:
        assert {"learned_filters.png", "training_curves.png"} <= pngs(tmp_path)


def test_row_attention_trains(tmp_path):
    out = run_example("row_attention.py", tmp_path, "--samples", "768", "--test-samples",
                      "200", "--verbose", "0")
    assert re.search(r"│ row_attention \(RowAttention\) +│ \(None, 14, 14, 8\) +│", out), out
    # the library's answer: MultiHeadAttention over the 14 rows as tokens of 112 features,
    # three projections of 112 * 16 + 16 weights and the output one of 16 * 112 + 112
    assert re.search(r"│ row_mha +│ \(None, 14, 112\) +│ +7,328 │", out), out
    for label in ("RowAttention", "MultiHeadAttention"):
        accuracy = float(re.search(label + r": test accuracy (\S+) \(loss \S+\) on 200 test "
                                   r"images", out).group(1))
        assert 0.2 < accuracy <= 1.0, out
    if HAS_MPL:
        assert pngs(tmp_path) == {"row_attention.png"}


def test_cifar_bn_trains_and_folds_at_inference(tmp_path):
    """Conv2D-BatchNormalization-ReLU blocks on generated CIFAR-10-shaped images: the
    summary shows the moving statistics as non-trainable, and the test accuracy (with
    the moving statistics) is far above chance (0.1)."""
    out = run_example("cifar_bn.py", tmp_path, "--samples", "512", "--test-samples", "300",
                      "--width", "8", "--epochs", "4", "--batch-size", "16", "--verbose", "0")
    assert re.search(r"│ batch_normalization +│ \(None, 32, 32, 8\) +│ +32 │", out), out
    assert re.search(r"│ global_average_pooling2d +│ \(None, 32\) +│", out), out
    assert "Non-trainable params: 112 (448.00 B)" in out  # 2 * (8 + 16 + 32) moving stats
    assert re.search(r"trained on 1840 images in \S+ s \([\d,]+ img/s", out), out
    accuracy = float(re.search(r"test accuracy (\S+) \(loss", out).group(1))
    assert 0.3 < accuracy <= 1.0, out


# ----------------------------------------------------------- the custom layer
@pytest.fixture(scope="module")
def RowAttention():
    return load_example("row_attention").RowAttention


def test_row_attention_gradcheck(RowAttention):
    rng = np.random.default_rng(0)
    layer = RowAttention(key_dim=3, dtype="float64")
    x = mg.Tensor(rng.standard_normal((2, 4, 3, 2)), requires_grad=True)
    layer(x)  # builds the weights
    # random weights everywhere (the value kernel starts at zero, which would
    # leave the query and key gradients at zero and unchecked)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    assert [w.dtype for w in layer.weights] == [np.float64] * 3
    assert mg.testing.gradcheck(lambda x, *weights: layer(x), (x, *layer.weights))


def test_row_attention_shapes_and_weights(RowAttention):
    layer = RowAttention(key_dim=5)
    x = np.random.default_rng(1).standard_normal((3, 6, 4, 2)).astype("float32")
    y = layer(x)
    assert y.shape == x.shape
    assert [w.shape for w in layer.get_weights()] == [(8, 5), (8, 5), (8, 8)]
    attention = layer.last_attention.numpy()
    assert attention.shape == (3, 6, 6)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y.numpy(), x, atol=1e-6)  # zero value kernel: identity
    with pytest.raises(ValueError, match="RowAttention"):
        layer(np.zeros((1, 6, 5, 2), "float32"))


def test_row_attention_save_and_load(RowAttention, tmp_path):
    model = mg.Sequential([
        mg.layers.Conv2D(2, 3, strides=2, padding="same", input_shape=(8, 8, 1)),
        RowAttention(key_dim=4),
        mg.layers.Flatten(),
        mg.layers.Dense(3, activation="softmax"),
    ])
    model.set_weights([np.random.default_rng(2).standard_normal(w.shape) * 0.3
                       for w in model.get_weights()])
    x = np.random.default_rng(3).random((4, 8, 8, 1)).astype("float32")
    model.save(tmp_path / "m.npz")
    restored = mg.load_model(tmp_path / "m.npz", custom_objects={"RowAttention": RowAttention})
    assert restored.layers[1].key_dim == 4
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


# -------------------------------------------------------------------- README
def readme_blocks() -> list:
    """(line number, code) of each ```python block, skipping `<!-- skip -->` ones."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for m in re.finditer(r"^(<!-- skip -->[ \t]*\n)?```python\n(.*?)^```", text, re.S | re.M):
        if not m.group(1):
            blocks.append((text.count("\n", 0, m.start(2)) + 1, m.group(2)))
    return blocks


def test_readme_has_code():
    blocks = readme_blocks()
    assert len(blocks) >= 10
    text = README.read_text(encoding="utf-8")
    assert text.count("<!-- skip -->") == 2  # the CUDA block, the .keras one (h5py: an extra)


def readme_outputs() -> dict:
    """{line of a ```python block: the plain ``` block printed right after it}."""
    text, outputs = README.read_text(encoding="utf-8"), {}
    for m in re.finditer(r"^```python\n(.*?)^```\n", text, re.S | re.M):
        after = re.match(r"\n```\n(.*?)\n```", text[m.end():], re.S)
        if after:
            outputs[text.count("\n", 0, m.start(1)) + 1] = after.group(1)
    return outputs


def test_readme_python_blocks(tmp_path, monkeypatch, capsys, fresh_names):
    monkeypatch.chdir(tmp_path)  # model.save writes here
    monkeypatch.setenv("COLUMNS", "80")  # summary() fits the terminal, as Keras's does
    namespace = {"__name__": "__readme__"}
    shown, printed, summaries = readme_outputs(), [], 0
    for line, code in readme_blocks():
        try:
            exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"README.md block at line {line} failed: "
                                 f"{type(e).__name__}: {e}\n{code}") from e
        out = capsys.readouterr().out
        printed.append(out)
        if re.search(r"\.summary\([^)]*\)$", code.strip()):
            # the summary shown in the README is what that summary() call printed
            assert [l.rstrip() for l in shown[line].splitlines()] == \
                [l.rstrip() for l in out.splitlines()], f"README.md block at line {line}"
            summaries += 1
    assert summaries == 3  # Sequential, functional, subclassed
    printed = "".join(printed)
    assert "(1, 5, 5, 16)" in printed
    assert "True" in printed  # gradcheck


def test_readme_layer_table_lists_exactly_the_layers():
    """The README's layer table (after "| group | layers |") names real layers, and every
    public layer class of mg.layers is in it (Keras's aliases and the base classes
    aside)."""
    text = README.read_text(encoding="utf-8")
    table = re.search(r"^\| group \| layers \|\n(.*?)\n\n", text, re.S | re.M).group(1)
    named = set(re.findall(r"`([A-Z]\w*)", table))
    for base, first, second in re.findall(r"`([A-Z]\w*?)(\dD)`/`(\dD)`", table):
        named |= {base + first, base + second}    # `MaxPooling1D`/`2D`
    from minigrad import layers
    classes = {name for name, obj in vars(layers).items()
               if isinstance(obj, type) and issubclass(obj, layers.Layer)
               and obj.__name__ == name}
    assert named - classes == set(), "README names layers minigrad lacks"
    assert classes - named - {"Layer", "InputLayer"} == set(), "layers missing from README"
    assert "once" not in table and "issue" not in table  # no stale promises
