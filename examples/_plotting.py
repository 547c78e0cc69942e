"""The examples' one plotting helper: matplotlib is an optional extra."""


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
