"""The learning-curve picture, and that drawing it leaves matplotlib's global state alone."""

import subprocess
import sys

from PIL import Image

from robustreid.viz.curves import plot_learning_curve

RECORDS = [
    {"epoch": e, "loss": 3 - 0.2 * e, "num_clusters": 50 + e, "num_outliers": 20 - e}
    | ({"mAP": 0.1 * e, "rank1": 0.12 * e} if e % 2 else {})
    for e in range(1, 6)
]


def test_writes_a_png_of_the_three_panels(tmp_path):
    out = plot_learning_curve(RECORDS, tmp_path / "curve.png", title="run")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (13 * 90, round(3.6 * 90))


def test_importing_and_plotting_keep_the_backend_and_pyplot_untouched(tmp_path):
    script = (
        "import sys, matplotlib; matplotlib.use('svg'); "
        "from robustreid.viz.curves import plot_learning_curve; "
        f"plot_learning_curve({RECORDS!r}, {str(tmp_path / 'c.png')!r}); "
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
