"""The examples' plotting helpers: matplotlib is an optional extra."""
import os


def pyplot():
    """matplotlib.pyplot with a file-only backend, or None when not installed."""
    try:
        import matplotlib
    except ImportError:
        print("(install minigrad[plot] for the pictures)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, folder: str, name: str, dpi: int = 100) -> str:
    """Lay out, write folder/name as a PNG (making the folder), close the figure;
    returns the path."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print(f"wrote {path}")
    return path
