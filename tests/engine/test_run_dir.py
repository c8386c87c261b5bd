"""RunDir: the run folder's metrics log survives a run killed mid-epoch (the file format: tests/inference)."""

from __future__ import annotations

from robustreid.engine.run_dir import RunDir


def test_metrics_log_appends_reads_and_drops_unfinished_epochs(tmp_path):
    run = RunDir(tmp_path)
    for epoch in range(3):
        run.append_metrics({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
    run.truncate_metrics(after_epoch=1)
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1]
