"""Where a run's time goes: seconds per phase and epoch, and its picture."""

from PIL import Image

from robustreid.viz.curves import phase_seconds, plot_phase_times

RECORDS = [
    {"epoch": 0, "time_extract": 50.0, "time_cluster": 4.0, "time_train": 120.0},
    {"epoch": 1, "time_extract": 48.0, "time_cluster": 3.0, "time_train": 118.0, "time_eval": 80.0},
]


def test_an_epoch_that_skipped_a_phase_counts_zero_seconds_for_it():
    seconds = phase_seconds(RECORDS)
    assert list(seconds) == ["extract", "cluster", "train", "eval"]
    assert seconds["eval"] == [0.0, 80.0]
    assert seconds["train"] == [120.0, 118.0]


def test_writes_a_png(tmp_path):
    out = plot_phase_times(RECORDS, tmp_path / "time.png", title="run")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (9 * 90, round(3.8 * 90))
