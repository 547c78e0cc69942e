"""The benchmark harness (benchmarks/): its statistics, tables and worker environment, and a
tiny end-to-end run of train_cnn.py and ops.py workers in fresh processes. Times nothing:
speed is measured by the scripts themselves, on a quiet machine."""
import json
import re
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import _common as C  # noqa: E402
import ops  # noqa: E402
import train_cnn  # noqa: E402


def sample(train, predict=None):
    return {"train_images_per_s": train, "predict_images_per_s": predict}


def test_spread_and_pair_ratios():
    rounds = [{"minigrad": sample(100.0), "torch": sample(50.0)},
              {"minigrad": sample(200.0), "torch": sample(400.0)},
              {"minigrad": sample(300.0), "torch": {"error": "exit code 1"}},  # skipped
              {"minigrad": sample(90.0), "torch": sample(60.0)},
              {"torch": sample(10.0)}]  # minigrad missing: skipped
    ratios = C.pair_ratios(rounds, "minigrad", "torch", lambda s: s["train_images_per_s"])
    assert ratios == [2.0, 0.5, 1.5]
    assert C.spread(ratios) == {"median": 1.5, "min": 0.5, "max": 2.0, "n": 3}
    assert C.spread([None, None]) is None
    assert C.fmt(C.spread(ratios)) == "1.50 (0.50-2.00)"
    assert C.fmt(C.spread([0.931])) == "0.931"  # one pair: no range to show


def test_summarize_reports_medians_and_ratio_per_round():
    rounds = [{"minigrad": sample(100.0, 1000.0) | {"first_step_s": 0.2},
               "torch": sample(50.0, 2000.0) | {"first_step_s": 1.0}},
              {"minigrad": sample(200.0, 3000.0) | {"first_step_s": 0.4},
               "torch": sample(400.0, 1000.0) | {"first_step_s": 3.0}}]
    s = train_cnn.summarize(["minigrad", "torch"], {"minigrad": {"first_step_s": 7.0}}, rounds)
    assert s["minigrad"]["train_images_per_s"]["median"] == 150.0
    assert s["minigrad"]["first_step_cold_s"] == 7.0
    assert s["torch"]["first_step_cold_s"] is None
    assert s["torch"]["train_ratio"] == {"median": 1.25, "min": 0.5, "max": 2.0, "n": 2}
    assert s["torch"]["predict_ratio"] == {"median": 1.75, "min": 0.5, "max": 3.0, "n": 2}
    assert "train_ratio" not in s["minigrad"]


def test_ops_summary_per_op_ratio_and_share_of_sgemm():
    def worker(fwd_s, bwd_s=None):
        op = {"fwd_s": fwd_s, "fwd_flop": 4e9} | ({"bwd_s": bwd_s, "bwd_flop": 8e9}
                                                   if bwd_s else {})
        return {"ops": {"conv": op}}
    sgemm = {"ops": {"sgemm 2048^3": {"fwd_s": 0.1, "fwd_flop": 2e10}}}  # 200 GFLOP/s
    rounds = [{"minigrad": worker(0.04, 0.1), "torch": worker(0.08, 0.05), "sgemm": sgemm},
              {"minigrad": worker(0.04, 0.1), "torch": {"not_installed": "torch"},
               "sgemm": sgemm}]
    summary, rate = ops.summarize(rounds, ["conv"])
    row = summary["conv"]
    assert rate == 2e11
    assert row["fwd_gflops"] == pytest.approx(100) and row["fwd_of_sgemm"] == pytest.approx(0.5)
    assert row["bwd_gflops"] == pytest.approx(80)
    assert row["fwd_ratio"]["median"] == pytest.approx(2.0)  # torch's time over minigrad's
    assert row["bwd_ratio"]["median"] == pytest.approx(0.5) and row["bwd_ratio"]["n"] == 1


def test_abba_order():
    names = ["minigrad", "torch", "keras-jax"]
    assert C.abba(names, 0) == names
    assert C.abba(names, 1) == names[::-1]
    assert C.abba(names, 2) == names


def test_format_table_aligns_columns():
    text = C.format_table(["framework", "img/s"], [["minigrad", 5049.4], ["torch", None]])
    lines = text.splitlines()
    assert lines[0] == "framework  img/s"
    assert lines[2] == "minigrad   5,049"
    assert lines[3] == "torch        n/a"
    assert lines[1] == lines[4] == "---------  -----"


def test_worker_env_threads_openblas_and_isa():
    base = {"PATH": "/bin", "OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576",
            "XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    env, notes = C.worker_env(3, base=base)
    assert "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env
    assert notes["openblas_env_removed"] == {"OPENBLAS_CORETYPE": "Haswell",
                                             "OPENBLAS_L2_SIZE": "1048576"}
    assert all(env[k] == "3" for k in C.THREAD_VARS)
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x" and "NUMBA_CPU_NAME" not in env
    kept, _ = C.worker_env(3, keep_openblas_env=True, base=base)
    assert kept["OPENBLAS_L2_SIZE"] == "1048576"
    avx2, notes = C.worker_env(2, isa="avx2", base=base)
    assert avx2["OPENBLAS_CORETYPE"] == "Haswell" and "OPENBLAS_L2_SIZE" not in avx2
    assert avx2["NUMBA_CPU_NAME"] == "haswell" and avx2["ATEN_CPU_CAPABILITY"] == "avx2"
    assert avx2["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert "+avx2" in avx2["NUMBA_CPU_FEATURES"] and "avx512" not in avx2["NUMBA_CPU_FEATURES"]
    assert avx2["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX2"
    assert "PATH" in avx2 and base["OPENBLAS_L2_SIZE"] == "1048576"  # base untouched
    cold = C.cold_env(env, "/tmp/empty")
    assert all(cold[k].startswith("/tmp/empty" + os.sep) for k in C.CACHE_VARS)


def test_peer_names_and_interpreters():
    assert train_cnn.peers(["torch"], no_compile=False) == ["torch", "torch.compile"]
    assert train_cnn.peers(["torch,keras-jax", "torch"], no_compile=True) == ["torch",
                                                                            "keras-jax"]
    assert "tinygrad" in train_cnn.peers(["all"], no_compile=False)
    with pytest.raises(SystemExit, match="unknown peer 'jaxx'"):
        train_cnn.peers(["jaxx"], no_compile=False)
    specs = ["keras=/k/python", "torch.compile=/c/python"]
    assert train_cnn.python_for(specs, "keras-jax") == "/k/python"
    assert train_cnn.python_for(specs, "keras-tf") == "/k/python"
    assert train_cnn.python_for(specs, "torch.compile") == "/c/python"
    assert train_cnn.python_for(specs, "torch") == sys.executable


def test_op_flop_counts():
    # conv: 2*N*OH*OW*KH*KW*C*F; the second conv of the convnet at batch 128
    assert ops.flops("conv", (128, 13, 13, 32), {"k": 3}, (128, 11, 11, 64)) == \
        2 * 128 * 11 * 11 * 9 * 32 * 64
    assert ops.flops("dense", (128, 1600), {}, (128, 10)) == 2 * 128 * 1600 * 10
    assert ops.flops("pool", (128, 26, 26, 32), {}, (128, 13, 13, 32)) is None
    assert [c[0] for c in ops.selected("conv 13,dense")] == [
        "conv 13x13x32->11x11x64 3x3", "dense 1600->10"]


@pytest.mark.parametrize("name", ["conv1d 128 steps", "conv transpose 8x8x64",
                                  "depthwise 16x16", "conv 13x13"])
def test_minigrad_and_torch_cases_compute_the_same_op(name):
    """The two frameworks' cases of an op agree (weights permuted right), and the FLOP
    count follows the output shape."""
    torch = pytest.importorskip("torch")
    import numpy as np

    import minigrad as mg
    (case_name, op, shape, prm, input_grad), = ops.selected(name)
    x = np.random.default_rng(1).standard_normal((2,) + shape).astype(np.float32)
    fwd_mg, _, shape_mg = ops.make_case(op, x, prm, input_grad, "cpu", mg=mg)
    fwd_t, _, shape_t = ops.make_case(op, x, prm, input_grad, "cpu", torch=torch)
    assert shape_mg == shape_t
    y_t = fwd_t().detach().numpy()
    y_t = np.moveaxis(y_t, 1, -1)  # NC... -> N...C
    np.testing.assert_allclose(fwd_mg().numpy(), y_t, rtol=1e-4, atol=1e-5)
    assert ops.flops(op, x.shape, prm, shape_mg) > 0


def run(args, timeout=120):
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                       timeout=timeout, cwd=os.path.dirname(BENCH))
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_train_cnn_end_to_end_minigrad_and_a_missing_peer(tmp_path):
    """The parent writes the data, runs one fresh minigrad process and gates a peer that is
    not installed here (a name no environment has)."""
    out = tmp_path / "run.json"
    stdout = run(["benchmarks/train_cnn.py", "--steps", "1", "--windows", "2", "--warmup",
                  "0", "--pairs", "1", "--predict-images", "1000", "--predict-reps", "1",
                  "--no-cold", "--threads", "1", "--vs", "tinygrad",
                  "--python-for", f"tinygrad={sys.executable}", "--json", str(out)])
    d = json.loads(out.read_text())
    got = d["rounds"][0]["minigrad"]
    assert "error" not in got, got
    assert len(got["train_window_s"]) == 2 and got["train_images_per_s"] > 0
    assert got["predict_images_per_s"] > 0 and got["peak_rss_mb"] > 0
    assert got["versions"]["numba_threads"] == 1  # the parent's --threads reached it
    assert d["summary"]["minigrad"]["train_images_per_s"]["n"] == 1
    try:
        import tinygrad  # noqa: F401
    except ImportError:
        assert d["status"]["tinygrad"] == "not installed"
        assert "tinygrad" in stdout and "not installed" in stdout
    assert "minigrad" in stdout and "machine:" in stdout


@pytest.mark.parametrize("framework", ["minigrad", "torch"])
def test_ops_worker_times_a_conv(framework):
    if framework == "torch":
        pytest.importorskip("torch")
    stdout = run(["benchmarks/ops.py", "--worker", framework, "--cases", "conv 13",
                  "--batch", "4", "--reps", "1", "--warmup", "0", "--min-time", "0",
                  "--threads", "1"])
    r = json.loads(stdout.splitlines()[-1][len(C.RESULT_MARK):])
    (name, op), = r["ops"].items()
    assert name == "conv 13x13x32->11x11x64 3x3"
    assert op["fwd_flop"] == 2 * 4 * 11 * 11 * 9 * 32 * 64 and op["bwd_flop"] == 2 * op["fwd_flop"]
    assert op["fwd_s"] > 0 and op["bwd_s"] > 0


@pytest.mark.parametrize("framework", ["minigrad", "torch"])
def test_ops_worker_times_a_sequence_and_a_transposed_conv(framework):
    """The 3-D (steps) case: its backward gradient is laid out as the framework's output."""
    if framework == "torch":
        pytest.importorskip("torch")
    stdout = run(["benchmarks/ops.py", "--worker", framework, "--cases",
                  "conv1d 128,conv transpose", "--batch", "2", "--reps", "1", "--warmup", "0",
                  "--min-time", "0", "--threads", "1"])
    r = json.loads(stdout.splitlines()[-1][len(C.RESULT_MARK):])
    assert sorted(r["ops"]) == ["conv transpose 8x8x64->17x17x32 3x3 s2",
                                "conv1d 128 steps x64->x64 k5"]
    assert all(op["fwd_s"] > 0 and op["bwd_s"] > 0 for op in r["ops"].values())


@pytest.mark.parametrize("model, title", [
    ("cifar_bn", "CIFAR-10-shaped Conv2D-BatchNormalization-ReLU network"),
    ("convnet3", "3-block 64/128/256-filter Conv2D-ReLU-MaxPooling2D network")])
def test_train_cnn_32x32_models_in_minigrad_and_torch(tmp_path, model, title):
    """--model cifar_bn / convnet3: on generated 32x32x3 images, one fresh process per
    framework (torch where installed), the model named in the report."""
    out = tmp_path / "run.json"
    stdout = run(["benchmarks/train_cnn.py", "--model", model, "--batch", "8", "--steps",
                  "1", "--windows", "1", "--warmup", "0", "--pairs", "1", "--predict-images",
                  "16", "--predict-reps", "1", "--no-cold", "--threads", "1", "--vs", "torch",
                  "--no-compile", "--json", str(out)], timeout=300)
    d = json.loads(out.read_text())
    assert d["model"] == model
    got = d["rounds"][0]["minigrad"]
    assert "error" not in got and got["train_images_per_s"] > 0, got
    assert title in stdout
    if "torch" not in d["status"]:
        assert d["rounds"][0]["torch"]["train_images_per_s"] > 0


@pytest.mark.parametrize("name", ["cifar_bn", "convnet3"])
def test_32x32_models_have_the_same_weights_in_minigrad_and_torch(name):
    """Each benchmark network is the same network in both: the same weight shapes (torch's
    OIHW conv kernels as Keras's HWIO), in order."""
    torch = pytest.importorskip("torch")
    import cnn_workers
    import minigrad as mg
    module = cnn_workers.MODEL_MODULES[name]
    model = module.keras_api_model(mg)
    ours = [tuple(w.shape) for w in model.trainable_weights]
    theirs = [tuple(p.shape) for p in module.torch_model(torch).parameters()]
    theirs = [(s[2], s[3], s[1], s[0]) if len(s) == 4 else s[::-1] for s in theirs]
    assert ours == theirs


def test_train_cnn_minigrad_on_two_forked_processes_reports_rank_0_and_its_ratios(tmp_path):
    """minigrad-2p: one worker that forks the second rank; only rank 0's result comes
    back, with one thread per process, and the table gains minigrad-2p/peer columns."""
    out = tmp_path / "run.json"
    stdout = run(["benchmarks/train_cnn.py", "--steps", "1", "--windows", "1", "--warmup",
                  "0", "--pairs", "1", "--predict-images", "1000", "--predict-reps", "1",
                  "--no-cold", "--threads", "2", "--vs", "minigrad-2p", "--json", str(out)],
                 timeout=300)
    d = json.loads(out.read_text())
    got = d["rounds"][0]["minigrad-2p"]
    assert "error" not in got, got
    assert got["versions"]["processes"] == 2 and got["versions"]["numba_threads"] == 1
    assert got["train_images_per_s"] > 0 and got["predict_images_per_s"] > 0
    assert "train_ratio" in d["summary"]["minigrad-2p"]   # minigrad over minigrad-2p
    assert "minigrad-2p: minigrad data parallel over 2 processes" in stdout


def test_distributed_local_runs_forked_processes_without_mpi(tmp_path):
    out = tmp_path / "dist.json"
    stdout = run(["benchmarks/distributed.py", "--local", "--steps", "2",
                  "--allreduce-reps", "3", "--json", str(out)], timeout=300)
    results = json.loads(out.read_text())["results"]
    assert [r["processes"] for r in results] == [1, 2]
    assert results[1]["allreduce_bytes"] > 100_000   # the MNIST convnet's gradients
    assert "forked by initialize (no MPI)" in stdout


def test_distributed_paper_estimate_is_a_ring_allreduce():
    """2 (N - 1) / N of the buffer through each link, plus 2 (N - 1) latencies."""
    import distributed
    rows = distributed.paper_estimate(nbytes=125_000_000, step_s=1.0, latency_s=0.0)
    two = rows[0]   # 2 machines: 1 Gbit through each link
    assert two[0] == 2 and two[1:] == ["100.00 ms", "90.9%", "10.00 ms", "99.0%"]
    four = distributed.paper_estimate(0, 1.0, latency_s=1e-3)[1]
    assert four[0] == 4 and four[1] == "6.00 ms"   # latency only: 2 * 3 hops


def test_serial_kernels_table_has_both_builds_of_each_kernel():
    stdout = run(["benchmarks/serial_kernels.py", "--repeats", "1", "--sizes", "4096,40000"])
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows][:2] == ["kernel", "adam_update"]
    assert len(rows) == 8  # the header and seven kernels
    for cells in rows[1:]:
        assert len(cells) == 4 and all(" / " in c for c in cells[2:])


def test_first_conv_weight_grad_times_both_ways():
    stdout = run(["benchmarks/first_conv_weight_grad.py", "--steps", "1"])
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    from minigrad.backends.cpu import direct_conv   # the 16-lane twin: on AVX-512 only
    assert [r[0].strip() for r in rows] == ["first conv's weight gradient"] + (
        ["pooled kernel, 2x2 windows, 16 lanes"] if direct_conv.has_avx512() else []) + [
        "pooled kernel, 2x2 windows", "pooled kernel, any window", "dense + GEMM"]
    assert all(float(r[1]) > 0 for r in rows[1:])


@pytest.mark.parametrize("model", ["mnist_convnet", "convnet3"])
def test_few_taps_times_both_ways_and_compares_the_outputs(model):
    stdout = run(["benchmarks/few_taps.py", "--model", model, "--images", "20", "--batch",
                  "10", "--reps", "1", "--steps", "1", "--train-batch", "4"])
    assert re.search(r"outputs: max abs difference \S+, same argmax for 1\.0000", stdout), stdout
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["first conv + pool", "one kernel",
                                            "im2col + GEMM + pool"]


def test_input_grad_blocks_times_both_ways_with_the_same_gradients():
    stdout = run(["benchmarks/input_grad_blocks.py", "--model", "cifar_bn", "--batch", "8",
                  "--steps", "1"])
    assert "gradients of one batch bit for bit the same both ways" in stdout, stdout
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["conv input gradient", "by blocks of images",
                                            "whole product, then col2im"]
    assert all(float(r[1]) > 0 for r in rows[1:])


def test_bn_relu_backward_times_both_ways_with_the_same_gradients():
    stdout = run(["benchmarks/bn_relu_backward.py", "--steps", "1", "--batch", "8"])
    assert "gradients of one batch bit for bit the same both ways" in stdout, stdout
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["BatchNormalization+ReLU backward",
                                            "mask inside the kernels", "mask in a pass first"]
    assert all(float(r[1]) > 0 for r in rows[1:])


def test_bn_pool_times_both_ways_with_the_same_gradients():
    stdout = run(["benchmarks/bn_pool.py", "--steps", "1", "--batch", "8"])
    assert "gradients of one batch bit for bit the same both ways" in stdout
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["BatchNormalization+ReLU+MaxPooling2D",
                                            "pool in the normalisation's pass",
                                            "pool as its layer"]
    assert all(float(r[1]) > 0 for r in rows[1:])


def test_few_taps_conv_times_both_ways_with_close_gradients():
    stdout = run(["benchmarks/few_taps_conv.py", "--steps", "1", "--batch", "8"])
    diff = float(re.search(r"largest difference (\S+) of the weight", stdout).group(1))
    assert 0 <= diff < 1e-4, stdout
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["first conv (27 taps)", "few-taps kernels",
                                            "im2col + GEMMs"]
    assert all(float(r[1]) > 0 for r in rows[1:])


def test_inference_blocks_times_each_way_and_checks_the_bits():
    stdout = run(["benchmarks/inference_blocks.py", "--reps", "1", "--blocks-mb", "1",
                  "--images", "1200"])
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["convs", "per-thread blocks (conv+pool)", "one block",
                                            "1 MB blocks"]
    assert "every way gave the same bits" in stdout


def test_inference_blocks_peak_rss_of_one_way_for_a_model_with_unpooled_convs():
    stdout = run(["benchmarks/inference_blocks.py", "--model", "vgg_blocks", "--images",
                  "1000", "--peak-rss", "4 MB blocks"])
    assert re.search(r"^vgg_blocks, 4 MB blocks: peak RSS \d+ MB$", stdout, re.M), stdout


def test_two_threads_times_each_kernel_on_both_builds_inside_steps():
    stdout = run(["benchmarks/two_threads.py", "--steps", "1", "--kernels", "col2im,im2col"])
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["kernel", "col2im", "im2col"]
    from minigrad.backends.cpu import blas, kernels as K   # min_threads, in the pool in use
    assert [r[1].strip() for r in rows[1:]] == [str(K.in_pool(K.MIN_THREADS, blas.in_use())), "1"]
    assert all(float(v) > 0 for r in rows[1:] for v in r[2:])


def test_cold_start_lists_what_the_first_step_compiles():
    """In its own empty Numba cache, so every kernel the first step runs is compiled there
    or loaded from the forked copy's builds: the convs' im2col and the small kernels'
    serial builds show up, with times."""
    stdout = run(["benchmarks/cold_start.py"], timeout=300)
    rows = {r[0].strip(): float(r[1]) for r in
            (line.split("|")[1:-1] for line in stdout.splitlines()[3:] if line.startswith("| "))}
    assert "adam_update.serial" in rows and {"im2col", "im2col.serial"} & set(rows), rows
    assert {f"maxpool2x2_conv_weight_grad{twin}{build}" for twin in ("", "16")
            for build in ("", ".serial")} & set(rows), rows
    assert sum(rows.values()) > 0 and all(s >= 0 for s in rows.values())
    assert re.search(r"empty Numba cache.*the forked copy took \d+ builds", stdout), stdout


def test_huge_pages_times_both_kinds_of_buffer_memory():
    stdout = run(["benchmarks/huge_pages.py", "--processes", "1", "--steps", "1", "--images",
                  "1000"], timeout=300)
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows] == ["buffer memory", "huge pages", "np.empty"]
    assert all(float(r[2].replace(",", "")) > 0 for r in rows[1:])


def test_direct_conv_matches_im2col_and_times_each_way():
    stdout = run(["benchmarks/direct_conv.py", "--shape", "3,7,7,4,64", "--reps", "1"])
    forward, weight = re.search(r"forward (\S+), weight gradient (\S+)", stdout).groups()
    assert float(forward) < 1e-5 and float(weight) < 1e-5   # the 4x64 tiles' sums are the conv's
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 7 and all(float(r[1]) > 0 for r in rows[1:])


def test_one_pool_times_both_ways():
    stdout = run(["benchmarks/one_pool.py", "--rounds", "1", "--steps", "1"], timeout=600)
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ")]
    assert [r[0].strip() for r in rows[1:]] == list(__import__("one_pool").WAYS)
    from minigrad.backends.cpu import blas
    assert rows[1][1].strip() == ("omp" if blas.AVAILABLE and blas.omp_loads() else "workqueue")
    assert rows[2][1].strip() == "workqueue"
    assert all(float(r[2]) > 0 for r in rows[1:])
