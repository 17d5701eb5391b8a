"""ParquetStore: manifest, resume without duplicates, refusal of a changed study, repair."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest
import toy_tasks

from simulations.study import store as store_module
from simulations.study.design import StudyDesign
from simulations.study.run import load_results, run_study
from simulations.study.store import (
    NotAStudyError,
    ParquetStore,
    StoreChangedWarning,
    StoreMismatchError,
)

DESIGN = StudyDesign({"n": [5, 20], "mu": [0.0, 1.0]}, replications=20, seed=7)


def _run(store: ParquetStore, design: StudyDesign = DESIGN, task=toy_tasks.normal_mean):  # noqa: ANN001, ANN202
    return run_study(design, task, store=store, executor="serial", progress=False)


@pytest.fixture
def reference() -> pd.DataFrame:
    return run_study(DESIGN, toy_tasks.normal_mean, executor="serial", progress=False).frame


def test_manifest_records_design_task_seed_and_versions(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "study", chunk_size=5)
    _run(store)
    manifest = store.manifest()
    assert manifest["design"] == DESIGN.to_dict()
    assert manifest["task"] == "toy_tasks:normal_mean"
    assert manifest["seed_entropy"] == 7
    assert {"numpy", "pandas", "pyarrow", "python", "setback",
            "setback_code"} <= set(manifest["runs"][0]["versions"])
    assert "finished" in manifest["runs"][0]
    assert len(store.chunks()) == 4 * 4
    assert not (tmp_path / "study" / "lock").exists()


def test_rerun_resumes_without_running_or_duplicating(tmp_path: Path,
                                                      reference: pd.DataFrame) -> None:
    store = ParquetStore(tmp_path / "study", chunk_size=5)
    first = _run(store)
    again = _run(store)
    assert (first.meta["n_run"], again.meta["n_run"]) == (80, 0)
    pd.testing.assert_frame_equal(again.frame, reference)
    pd.testing.assert_frame_equal(load_results(store).frame, reference)


def test_changed_design_is_refused_naming_the_change(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "study")
    _run(store)
    changed = StudyDesign({"n": [5, 30], "mu": [0.0, 1.0]}, replications=20, seed=7)
    with pytest.raises(StoreMismatchError, match="factor 'n': \\[5, 20\\] -> \\[5, 30\\]"):
        _run(store, changed)
    with pytest.raises(StoreMismatchError, match="seed: 7 -> 8"):
        _run(store, StudyDesign(DESIGN.factors, replications=20, seed=8))
    with pytest.raises(StoreMismatchError, match="replications: 20 -> 10"):
        _run(store, StudyDesign(DESIGN.factors, replications=10, seed=7))
    with pytest.raises(StoreMismatchError, match="task: 'toy_tasks:normal_mean' -> "):
        _run(store, task=toy_tasks.slow_mean)
    assert store.design() == DESIGN  # untouched by the refused runs


def test_more_replications_extend_the_study(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "study", chunk_size=6)
    _run(store)
    longer = StudyDesign(DESIGN.factors, replications=35, seed=7)
    extended = _run(store, longer)
    assert extended.meta["n_run"] == 4 * 15
    full = run_study(longer, toy_tasks.normal_mean, executor="serial", progress=False).frame
    pd.testing.assert_frame_equal(extended.frame, full)


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_partial_and_orphan_chunks_are_redone(tmp_path: Path,
                                                      reference: pd.DataFrame) -> None:
    store = ParquetStore(tmp_path / "study", chunk_size=5)
    _run(store)
    folder = tmp_path / "study" / "chunks"
    files = sorted(folder.glob("*.parquet"))
    _corrupt(files[0])                                            # flipped byte
    files[1].write_bytes(files[1].read_bytes()[:100])             # cut short
    files[2].unlink()                                             # lost
    (folder / ".c000003_r0000000-0000005.parquet.tmp-999").write_bytes(b"half")
    # an index line cut short by a crash
    with store.index_path.open("a") as fh:
        fh.write('{"file": "c000009')
    assert len(store.chunks()) == 16 - 3
    resumed = _run(store)
    assert resumed.meta["n_run"] == 3 * 5
    pd.testing.assert_frame_equal(resumed.frame, reference)
    assert sorted(p.name for p in folder.iterdir()) == sorted(r.file for r in store.chunks())


def test_orphan_chunk_without_index_line_is_redone(tmp_path: Path,
                                                   reference: pd.DataFrame) -> None:
    # a crash between the rename and the index line leaves a complete but unrecorded file
    store = ParquetStore(tmp_path / "study", chunk_size=5)
    _run(store)
    lines = store.index_path.read_text().splitlines()
    store.index_path.write_text("\n".join(lines[:-1]) + "\n")
    assert _run(store).meta["n_run"] == 5
    pd.testing.assert_frame_equal(load_results(store).frame, reference)
    assert len(store.index_path.read_text().splitlines()) == 16


def test_files_the_store_did_not_write_survive(tmp_path: Path) -> None:
    # Issue 12, finding 2: every file in DIR/chunks that was not a recorded chunk was
    # removed, even in a folder that never held a study (and a subfolder crashed the run).
    folder = tmp_path / "mine"
    (folder / "chunks" / "sub").mkdir(parents=True)
    (folder / "chunks" / "notes.txt").write_text("mine")
    (folder / "chunks" / "data.parquet").write_text("mine too")
    with pytest.raises(NotAStudyError, match="is not empty \\(chunks/data.parquet, "
                       "chunks/notes.txt, chunks/sub\\) and holds no study"):
        _run(ParquetStore(folder))
    assert not (folder / "manifest.json").exists() and not (folder / "lock").exists()
    store = ParquetStore(folder, chunk_size=5, allow_other_files=True)
    assert _run(store).meta["n_run"] == 80
    (folder / "chunks" / "later.txt").write_text("added to a study folder")
    assert _run(store).meta["n_run"] == 0  # resumed; repair() ran again
    assert (folder / "chunks" / "notes.txt").read_text() == "mine"
    assert (folder / "chunks" / "data.parquet").read_text() == "mine too"
    assert (folder / "chunks" / "later.txt").exists() and (folder / "chunks" / "sub").is_dir()
    assert len(load_results(ParquetStore(folder)).frame) == 80 * 2  # two methods per rep


def test_a_foreign_manifest_is_not_a_study(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "a web app"}))
    with pytest.raises(NotAStudyError, match="is not the manifest of a setback study"):
        _run(ParquetStore(tmp_path))
    with pytest.raises(NotAStudyError, match="not the manifest of a setback study"):
        load_results(ParquetStore(tmp_path))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(NotAStudyError, match="is not valid JSON"):
        ParquetStore(tmp_path).status()
    assert (tmp_path / "manifest.json").read_text() == "{not json"  # left alone


def test_status_counts_done_remaining_failed(tmp_path: Path) -> None:
    design = StudyDesign({"p_fail": [0.0, 1.0], "n": [5]}, replications=30, seed=2)
    store = ParquetStore(tmp_path / "study")
    run_study(design, toy_tasks.flaky, store=store, executor="serial", progress=False,
              max_consecutive_errors=3)
    status = store.status().set_index("condition_id")
    assert status[["done", "remaining", "failed", "stopped"]].values.tolist() == [
        [30, 0, 0, False], [3, 0, 3, True]]
    assert (status["seconds"] > 0).all()  # worker time recorded with each chunk


def test_stale_lock_is_taken_over_and_live_lock_refused(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "study")
    _run(store)
    lock = tmp_path / "study" / "lock"
    import socket

    # a lock file left by a killed run (no process holds it) is simply free
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 1}))
    _run(store)
    holder = ParquetStore(tmp_path / "study")
    holder.lock()  # another writer (its own open file) holds the lock
    try:
        with pytest.raises(RuntimeError, match=f"is being written by process {os.getpid()}"):
            _run(store)
    finally:
        holder.unlock()
    assert not lock.exists()
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 12}))
    with pytest.raises(RuntimeError, match="locked by process 12 on elsewhere.*delete"):
        _run(store)


def test_concurrent_stale_lock_takeover_has_exactly_one_holder(tmp_path: Path) -> None:
    # Issue 12, finding 7: the old read-pid-then-unlink takeover let several processes hold
    # the lock at once (13 of 40 trials). Here six worker processes, released together by a
    # barrier, race for a stale lock (left by a dead process) 40 times; every trial must
    # end with exactly one holder. Winners keep their lock until the pool ends.
    import multiprocessing
    import socket
    from concurrent.futures import ProcessPoolExecutor

    trials, contenders = 40, 6
    # forked from a server that imported the store once (a spawned worker each would import
    # pandas again; a plain fork of this multi-threaded process is unsafe)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["simulations.study.store", "toy_tasks"])
    barrier = ctx.Barrier(contenders)
    winners = []
    with ProcessPoolExecutor(contenders, mp_context=ctx, initializer=toy_tasks.init_contender,
                             initargs=(barrier,)) as pool:
        for trial in range(trials):
            folder = tmp_path / f"t{trial}"
            folder.mkdir()
            (folder / "lock").write_text(json.dumps({"host": socket.gethostname(),
                                                     "pid": 2**22 + 1}))
            futures = [pool.submit(toy_tasks.claim_store_lock, str(folder))
                       for _ in range(contenders)]
            winners.append(sum(f.result(timeout=60) for f in futures))
    assert winners == [1] * trials


def test_reading_an_empty_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no study"):
        ParquetStore(tmp_path).manifest()
    with pytest.raises(ValueError, match="chunk_size"):
        ParquetStore(tmp_path, chunk_size=0)


def test_lost_chunk_before_a_stop_is_redone(tmp_path: Path) -> None:
    # a stopped condition whose early chunk is lost must not count as complete on resume
    design = StudyDesign({"p_fail": [0.6], "n": [5]}, replications=60, seed=4)
    kw = {"executor": "serial", "progress": False, "max_consecutive_errors": 3}
    reference = run_study(design, toy_tasks.flaky, **kw).frame
    assert reference["replication"].max() >= 3  # it stopped after some successes
    store = ParquetStore(tmp_path / "study", chunk_size=1)
    run_study(design, toy_tasks.flaky, store=store, **kw)
    (tmp_path / "study" / "chunks" / store.chunks()[0].file).unlink()
    resumed = run_study(design, toy_tasks.flaky, store=store, **kw)
    assert resumed.meta["n_run"] == 1
    pd.testing.assert_frame_equal(resumed.frame, reference)


def test_resuming_with_changed_code_warns_naming_the_change(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = ParquetStore(tmp_path / "study", chunk_size=5)
    small = StudyDesign(DESIGN.factors, replications=5, seed=7)
    _run(store, small)
    code = store.manifest()["runs"][0]["versions"]["setback_code"]
    assert len(code) == 16 and code == store_module.code_fingerprint()
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreChangedWarning)
        _run(store, small)  # same code: resumes silently
    real = store_module.versions()
    monkeypatch.setattr(store_module, "versions", lambda: real | {"setback_code": "0" * 16})
    with pytest.warns(StoreChangedWarning, match=f"setback_code {code} -> 0{{16}}"):
        _run(store, StudyDesign(DESIGN.factors, replications=10, seed=7))
    assert [r["versions"]["setback_code"] for r in store.manifest()["runs"]] == [
        code, code, "0" * 16]
