"""hsimin._numba.parallel_chunks: the chunk runner that keeps several chunks of a numpy-and-kernels pipeline in
flight (the SWIR interpretation, the artefact screen, a model's recipe), and that the answers do not depend on it."""
import threading

import numpy as np
import pytest

from hsimin._numba import get_num_threads, num_threads, parallel_chunks


def test_every_chunk_once_with_fixed_bounds_and_one_kernel_thread_inside():
    seen = np.zeros(10_050, np.int64)
    calls, inner, idents = [], [], set()
    lock = threading.Lock()

    def fn(r0, r1):
        seen[r0:r1] += 1
        with lock:
            calls.append((r0, r1))
            inner.append(get_num_threads())
            idents.add(threading.get_ident())

    with num_threads(2):
        parallel_chunks(seen.size, fn, 1000)
        assert get_num_threads() == 2           # the caller's own count is left as it was
    assert (seen == 1).all()
    assert sorted(calls) == [(r0, min(r0 + 1000, 10_050)) for r0 in range(0, 10_050, 1000)]
    assert set(inner) == {1}                # kernels inside a chunk run on one thread: no nested pools
    with num_threads(1):
        calls.clear()
        parallel_chunks(2500, fn, 1000)     # one thread: in order, here
        assert calls == [(0, 1000), (1000, 2000), (2000, 2500)]
    calls.clear()
    parallel_chunks(0, fn, 1000)
    assert calls == []


def test_a_failing_chunk_is_raised_and_nested_calls_finish():
    def boom(r0, r1):
        if r0 >= 3000:
            raise ValueError(f"chunk {r0}")

    with num_threads(2), pytest.raises(ValueError, match="chunk"):
        parallel_chunks(10_000, boom, 1000)
    out = np.zeros(4000)

    def outer(r0, r1):   # a chunk that runs a chunked pipeline itself (e.g. a screen inside a classifier)
        parallel_chunks(r1 - r0, lambda a, b: out.__setitem__(slice(r0 + a, r0 + b), 1.0), 100)

    with num_threads(2):
        parallel_chunks(out.size, outer, 1000)
    assert (out == 1.0).all()


def test_interpretation_screen_and_model_features_do_not_depend_on_threads():
    """The SWIR answers, the artefact screen and a model's input features of the sample tray are the same on
    one thread (chunks in order) as on two (chunks in flight)."""
    import dataclasses

    import hsimin
    from hsimin.classical.artefacts import ArtefactScreen
    from hsimin.classical.interpretation import build_interpreter
    from hsimin.predict.classify import _apply_plan, input_plan
    from hsimin.predict.workflow import resolve_model
    from hsimin.samples import tray_path
    cube = hsimin.open_cube(tray_path())
    X = np.asarray(cube.data, np.float32).reshape(-1, cube.shape[2])
    X = np.vstack([X, X[::-1]])[:40_000]          # several chunks of every runner
    swir = build_interpreter(cube.wavelengths, cube.fwhm, cube.bad_bands, ranges=("swir",), features=False).swir
    lm = resolve_model("default")
    screen = ArtefactScreen(cube.wavelengths, cube.fwhm, cube.bad_bands, lm.class_names)
    plan = input_plan(cube, lm)
    results = []
    for n in (1, 2):
        with num_threads(n):
            a = swir.interpret(X)
            results.append(({f.name: getattr(a, f.name) for f in dataclasses.fields(a)
                              if f.name not in ("classes", "extra")}, screen(X), _apply_plan(plan, X)))
    (a1, s1, f1), (a2, s2, f2) = results
    for k in a1:
        np.testing.assert_array_equal(a1[k], a2[k], err_msg=k)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(f1, f2)
    assert s1.any() and (a1["status"] == 0).any()     # the tray has dividers and minerals: a real comparison


def test_blas_runs_on_one_thread_inside_chunks_and_is_restored_after():
    """Chunks started from the main thread run numpy's BLAS on one thread (no oversubscription with two chunks
    in flight); afterwards, and after a failing chunk, the count is what it was; from another thread the limit
    is left alone (OpenBLAS does not reliably take it from there)."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    seen = []

    def fn(r0, r1):
        if threading.current_thread() is threading.main_thread():
            seen.append(blas_threads())

    with num_threads(2):
        parallel_chunks(20_000, fn, 1000)
        assert seen and all(v == 1 for counts in seen for v in counts)
        assert blas_threads() == before

        def boom(r0, r1):
            raise ValueError("chunk")

        with pytest.raises(ValueError):
            parallel_chunks(20_000, boom, 1000)
        assert blas_threads() == before
        t = threading.Thread(target=lambda: parallel_chunks(20_000, lambda a, b: None, 1000))
        t.start()
        t.join(20)
        assert blas_threads() == before
