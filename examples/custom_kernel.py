"""Hand-made convolution kernels: a Sobel edge detector on an MNIST digit, and
an RGB difference kernel on a synthetic colour image.

A fixed kernel goes into a Conv2D through `kernel_initializer=Constant(kernel)`
with `use_bias=False`; the kernel layout is Keras's (kh, kw, in_channels,
filters). Each response is checked against a plain NumPy convolution
(cross-correlation, as in Keras and PyTorch: the kernel is not flipped).

    python examples/custom_kernel.py [--out DIR] [--index N]
"""
from __future__ import annotations

import argparse

import numpy as np

import minigrad as mg
from minigrad import layers
from _plotting import pyplot, save

# Sobel x: responds to left-to-right intensity changes (vertical edges).
SOBEL_X = np.array([[-1, 0, 1],
                    [-2, 0, 2],
                    [-1, 0, 1]], np.float32)


def numpy_conv2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' cross-correlation of NHWC x with a (kh, kw, C, F) kernel, in NumPy."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, f), np.float64)
    for p in range(kh):
        for q in range(kw):
            out += x[:, p:p + h - kh + 1, q:q + w - kw + 1, :] @ kernel[p, q]
    return out


def synthetic_rgb(size: int = 32) -> np.ndarray:
    """A (1, size, size, 3) image: a red disc, a green square, a blue ramp."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    img = np.zeros((size, size, 3), np.float32)
    img[..., 0] = ((xx - 0.35) ** 2 + (yy - 0.4) ** 2 < 0.06)
    img[..., 1] = (xx > 0.5) & (xx < 0.85) & (yy > 0.55) & (yy < 0.9)
    img[..., 2] = 0.6 * xx
    return img[None]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the PNG (default: .)")
    parser.add_argument("--index", type=int, default=0, help="which MNIST test digit")
    args = parser.parse_args(argv)

    # --- 1. one channel: Sobel x on a real digit, kernel (3, 3, 1, 1)
    _, (x_test, y_test) = mg.datasets.mnist.load_data()
    digit = (x_test[args.index] / 255.0).astype("float32")[None, :, :, None]  # (1, 28, 28, 1)
    kernel = SOBEL_X[:, :, None, None]                                         # (3, 3, 1, 1)
    sobel = layers.Conv2D(1, (3, 3), use_bias=False,
                          kernel_initializer=mg.initializers.Constant(kernel))
    edges = sobel(digit).numpy()
    diff1 = float(np.abs(edges - numpy_conv2d(digit, kernel)).max())
    print(f"MNIST test digit #{args.index} (label {y_test[args.index]}): {digit.shape} "
          f"-> Sobel x {edges.shape}")
    print(f"  kernel {kernel.shape}, weights {[w.shape for w in sobel.get_weights()]}")
    print(f"  response range [{edges.min():.2f}, {edges.max():.2f}]; "
          f"max |minigrad - numpy| = {diff1:.2e}")
    assert diff1 < 1e-5, diff1

    # --- 2. three channels: a 2x2 diagonal difference of the luminance, (2, 2, 3, 1)
    rgb = synthetic_rgb()
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    diagonal = np.array([[1, 0], [0, -1]], np.float32)
    kernel_rgb = diagonal[:, :, None, None] * luma[None, None, :, None]         # (2, 2, 3, 1)
    roberts = layers.Conv2D(1, (2, 2), use_bias=False,
                            kernel_initializer=mg.initializers.Constant(kernel_rgb))
    response = roberts(rgb).numpy()
    diff2 = float(np.abs(response - numpy_conv2d(rgb, kernel_rgb)).max())
    print(f"synthetic RGB image {rgb.shape} -> luminance diagonal difference {response.shape}")
    print(f"  kernel {kernel_rgb.shape}; max |minigrad - numpy| = {diff2:.2e}")
    assert diff2 < 1e-5, diff2

    result = {"edges": edges, "response": response, "max_abs_diff": max(diff1, diff2),
              "png": None}
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(1, 4, figsize=(10, 2.8))
        panels = [(digit[0, :, :, 0], "gray", f"MNIST digit ({y_test[args.index]})"),
                  (edges[0, :, :, 0], "RdBu_r", "Sobel x response"),
                  (rgb[0], None, "synthetic RGB"),
                  (response[0, :, :, 0], "RdBu_r", "2x2x3 diagonal difference")]
        for a, (img, cmap, title) in zip(ax, panels):
            lim = np.abs(img).max() if cmap == "RdBu_r" else None
            a.imshow(img, cmap=cmap, vmin=-lim if lim else None, vmax=lim)
            a.set_title(title, fontsize=9)
            a.axis("off")
        result["png"] = save(fig, args.out, "custom_kernel.png")
    return result


if __name__ == "__main__":
    main()
