"""`nnctl report` and the report.html that train and sweep write, opened in a real headless browser
(Debian's chromium, driven by Playwright) with every request that would leave the file refused:
each kind of report loads without a console error or an outside request, its screenshot is not
blank, and the numbers on the page are metrics.json's and `nnctl runs --json`'s.

The runs are trained as a user would, by separate `nnctl` processes: the example configs' runs are
the session's shared ones (test_chain's trainings, `shared_run`), the others once for the module.
Set NNCTL_REPORT_SHOTS=DIR to keep the screenshots for looking at.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, SharedRun, example_args, nnctl

XSS = "<img src=x onerror=alert(1)>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's)")

def _penguins_with_markup(folder: Path) -> Path:
    """palmerpenguins' own CSV (gaps written NA), one column named as markup and one class label too."""
    src = CONFIGS / "data" / "penguins.csv"
    rows = list(csv.reader(src.open()))
    header = rows[0]
    header[header.index("bill_length_mm")] = XSS
    species = header.index("species")
    for row in rows[1:]:
        row[species] = row[species].replace("Adelie", "<script>alert(2)</script>")
    path = folder / "penguins_markup.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    cfg = folder / "penguins.yaml"
    cfg.write_text((CONFIGS / "penguins.yaml").read_text().replace("data/penguins.csv", str(path)))
    return cfg


def _train(runs: Path, *args: object, code: int = 0) -> Path:
    p = nnctl("train", *args, "--runs-dir", runs, "--json", timeout=600)
    assert p.returncode == code, p.stderr
    run = Path(json.loads(p.stdout.strip().splitlines()[-1])["run_dir"])
    assert (run / "report.html").is_file(), p.stderr  # written by train itself
    return run


def _example(shared_run: Callable[..., SharedRun], runs: Path, stem: str) -> Path:
    """An example config's shared run (its train process wrote report.html), copied to look at."""
    config = CONFIGS / f"{stem}.yaml"
    trained = shared_run(config, *example_args(config))
    assert trained.process.returncode == 0, trained.process.stderr
    run = trained.copy(runs)
    assert (run / "report.html").is_file()
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_run: Callable[..., SharedRun]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    runs = root / "runs"
    (root / "diverge.yaml").write_text("data: {source: diabetes}\nlayers: [{Dense: 1}]\n"
                                       "optimizer: {name: sgd, learning_rate: 1.0e+6}\nepochs: 3\n")
    out = {
        "image": _example(shared_run, runs, "digits_folder"),  # PNG files in class folders
        "table": _train(runs, _penguins_with_markup(root), "--epochs", 12),
        "binary": _example(shared_run, runs, "breast_cancer"),
        "regression": _example(shared_run, runs, "diabetes"),
        "graph": _example(shared_run, runs, "autompg_two_heads"),
        "failed": _train(runs, root / "diverge.yaml", code=1),
    }
    p = nnctl("sweep", CONFIGS / "iris_csv.yaml", "--grid", "optimizer.learning_rate=0.1,0.001", "--set", "epochs=3",
              "--runs-dir", runs / "sweeps", timeout=600)
    assert p.returncode == 0, p.stderr
    (sweep,) = (runs / "sweeps").iterdir()
    out["sweep"] = sweep
    assert (sweep / "report.html").is_file()
    return out


@pytest.fixture(scope="module")
def browser() -> object:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser: object, html: Path, shot: str) -> tuple[object, list[str]]:
    """The page loaded from file:// with the network refused; returns it and what went wrong on it
    (console errors, page errors, dialogs, requests that would leave the file)."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r: object) -> None:
        if r.request.url.startswith(("file:", "data:")) and r.request.url.split("#")[0] == html.as_uri() \
                or r.request.url.startswith("data:"):
            r.continue_()
        else:
            problems.append(f"request {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    path = Path(os.environ.get("NNCTL_REPORT_SHOTS") or html.parent) / f"{shot}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    _not_blank(path)
    return page, problems


def _not_blank(png: Path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("L"), dtype="float32")
    assert pixels.std() > 10 and len(np.unique(pixels)) > 50, f"{png} looks blank"


def values(page: object) -> dict[str, tuple[str, str | None]]:
    """Every element with data-key: its shown text and its data-value."""
    return {k: (t, v) for k, t, v in page.eval_on_selector_all(
        "[data-key]", "els => els.map(e => [e.dataset.key, e.textContent.trim(), e.dataset.value ?? null])")}


def assert_metrics_shown(page: object, run: Path) -> dict:
    meta = json.loads((run / "metrics.json").read_text())
    shown = values(page)
    assert shown["status"][0] == meta["status"]
    for split in ("val", "test"):
        for name, value in meta[split].items():
            text, exact = shown[f"{split}.{name}"]
            assert float(exact) == value and text == f"{value:.4g}", (split, name, shown[f"{split}.{name}"], value)
    for split, n in meta["dataset"]["sizes"].items():
        assert shown[f"sizes.{split}"][0] == str(n)
    return meta


@pytest.mark.parametrize("kind", ["image", "table", "binary", "regression", "graph"])
def test_a_runs_report_loads_offline_and_shows_its_metrics(trained: dict[str, Path], browser: object,
                                                           kind: str) -> None:
    run = trained[kind]
    page, problems = open_page(browser, run / "report.html", f"run-{kind}")
    assert problems == []
    meta = assert_metrics_shown(page, run)
    text = page.inner_text("body")
    assert meta["status"] == "completed" and "Learning curves" in text and "How it ran" in text
    size = (run / "report.html").stat().st_size
    assert size < 3_000_000, size
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.naturalWidth])")
    assert images and all(w > 0 for _, w in images), images  # every figure decoded
    alts = {a for a, _ in images}
    if kind in ("image", "table", "binary"):  # classifiers: the matrix, the curves, the mistakes
        assert {"confusion matrix", "ROC, precision-recall and reliability curves"} <= alts, alts
        assert "Most confident mistakes" in text and "naive: test" in text
    if kind == "image":
        assert "most confident mistakes" in alts  # the thumbnails
    if kind == "regression":
        assert "predicted against true" in alts and "training split's mean" in text
    if kind == "graph":
        assert "Output mpg" in text and "Output origin" in text
    if kind == "binary":
        shown = values(page)
        assert float(shown["decision.threshold"][1]) == meta["decision"]["threshold"]
        for name, value in meta["decision"]["test"].items():
            assert float(shown[f"decision.test.{name}"][1]) == pytest.approx(value, nan_ok=True)


def test_a_table_report_escapes_markup_from_data_and_lists_columns(trained: dict[str, Path], browser: object) -> None:
    run = trained["table"]
    page, problems = open_page(browser, run / "report.html", "run-table-markup")
    assert problems == []  # no alert(1) dialog, no request for "x"
    assert page.locator("img[src='x']").count() == 0 and page.locator("script").count() == 1  # only the sorter
    text = page.inner_text("body")
    assert XSS in text and "<script>alert(2)</script>" in text  # shown as text
    meta = json.loads((run / "metrics.json").read_text())
    shown = values(page)
    for column in meta["dataset"]["columns"]:  # per-column missing counts as metrics.json has them
        assert shown[f"missing.{column['name']}"][0] == f"{column['missing']:,}"
    assert any(c["missing"] for c in meta["dataset"]["columns"])
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["importance"]["split"] == "validation"
    assert {c["column"] for c in evaluation["importance"]["columns"]} >= {XSS, "island", "sex"}
    assert "Input importance" in text


def test_a_failed_runs_report_says_why_first(trained: dict[str, Path], browser: object) -> None:
    run = trained["failed"]
    page, problems = open_page(browser, run / "report.html", "run-failed")
    assert problems == []
    meta = json.loads((run / "metrics.json").read_text())
    assert meta["status"] == "failed"
    body = page.inner_text("body")
    assert body.index("This run failed") < body.index("Metrics")
    assert meta["reason"] in page.inner_text("[data-key=reason]")


def test_a_sweeps_report_ranks_as_nnctl_runs_does_and_sorts(trained: dict[str, Path], browser: object) -> None:
    sweep = trained["sweep"]
    page, problems = open_page(browser, sweep / "report.html", "sweep")
    assert problems == []
    records = json.loads(nnctl("runs", sweep, "--json").stdout)
    rows = page.eval_on_selector_all(
        "table.leaderboard tbody tr",
        "trs => trs.map(tr => Object.fromEntries([...tr.cells].map(c => [c.dataset.key, "
        "c.dataset.value ?? c.textContent])))")
    assert {r["run"] for r in rows} == {r["run"] for r in records}
    by_run = {r["run"]: r for r in records}
    for row in rows:
        for key, value in by_run[row["run"]].items():
            if key.startswith(("val.", "test.")):
                assert float(row[key]) == value
    best = min(records, key=lambda r: r["val.loss"])["run"]
    assert rows[0]["run"] == best and values(page)["best"][0] == best
    ready = values(page)["ready"][0]
    assert "--set optimizer.learning_rate=" in ready
    page.click("table.leaderboard th:text-is('val.loss')")  # sort ascending, then descending
    page.click("table.leaderboard th:text-is('val.loss')")
    after = page.eval_on_selector_all("table.leaderboard tbody tr td[data-key='val.loss']",
                                      "tds => tds.map(td => parseFloat(td.dataset.value))")
    assert after == sorted(after, reverse=True) and len(after) == 2
    assert "Best run:" in page.inner_text("body")


def test_report_compares_runs_and_shows_only_what_differs(trained: dict[str, Path], browser: object,
                                                          tmp_path: Path) -> None:
    a, b = sorted(p for p in trained["sweep"].iterdir() if (p / "config.yaml").is_file())
    out = tmp_path / "compare.html"
    p = nnctl("report", a, b, "-o", out)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(out)
    page, problems = open_page(browser, out, "comparison")
    assert problems == []
    differs = page.eval_on_selector_all("h2:text-is('What differs in their configs') + table tr td:first-child",
                                        "tds => tds.map(td => td.textContent)")
    assert differs == ["optimizer.learning_rate"]  # names and timestamps aside, only the swept key
    shown = values(page)
    for run in (a, b):
        meta = json.loads((run / "metrics.json").read_text())
        for name, value in meta["val"].items():
            assert float(shown[f"{run.name}/val.{name}"][1]) == value
    assert page.locator("img[alt='learning curves overlaid']").count() == 1


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    p = nnctl("report", tmp_path / "nowhere")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "not found" in p.stderr, p.stderr
    (tmp_path / "empty").mkdir()
    p = nnctl("report", tmp_path / "empty")
    assert p.returncode == 2 and "neither a run folder" in p.stderr, p.stderr
