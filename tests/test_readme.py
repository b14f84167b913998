"""The README's set-up commands are the ones CI runs."""

from conftest import REPO


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = next(line for line in ci.splitlines() if "pytest" in line)
    assert test_cmd in readme
    assert "pip install -e . && nnctl train configs/mnist.yaml" in readme
