"""Sweeps that search: an Optuna study (grid, random or TPE; median or Hyperband pruning) whose
points are ordinary `nnctl train` runs in the sweep folder, trained by the sweep's executor.

The study lives in the folder (Optuna's journal file, or `--storage URL`): a re-run after a kill
resumes it, and several `nnctl sweep` processes with the same arguments, on one machine or on
several sharing the folder, work on the one study. Trials are asked for under a file lock, so
the study never holds more than `--trials`. The objective is a validation value: test values
are shown beside it, never used to choose.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnctl.config import flow, load_config, load_yaml
from nnctl.directions import default_objective, direction
from nnctl.engine import pruning as pruning_mod
from nnctl.errors import UserError
from nnctl.run import folder as runs
from nnctl.sweeps import executor

SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("median", "hyperband", "none")
_SPEC = re.compile(r"^\s*(choice|int|float|log)\s*\((.*)\)\s*$", re.DOTALL)


@dataclass
class Space:
    key: str
    kind: str  # choice | int | float
    values: list[Any]  # choice: the values; int/float: [low, high]
    log: bool = False

    def distribution(self) -> Any:
        from optuna import distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution([json.dumps(v) for v in self.values])  # any YAML value, hashable
        cls = d.IntDistribution if self.kind == "int" else d.FloatDistribution
        return cls(self.values[0], self.values[1], log=self.log)

    def value(self, suggested: Any) -> Any:
        return json.loads(suggested) if self.kind == "choice" else suggested


def parse_space(item: str) -> Space:
    """`KEY=choice(a, b)`, `int(lo, hi)`, `int(lo, hi, log)`, `float(lo, hi)` or `log(lo, hi)`."""
    key, sep, spec = item.partition("=")
    key = key.strip()
    where = f"--space {item!r}"
    match = _SPEC.match(spec)
    if not sep or not key or not match:
        raise UserError(f"{where}: expected KEY=SPEC with SPEC one of choice(a, b, ...), int(lo, hi), "
                        "int(lo, hi, log), float(lo, hi), log(lo, hi)")
    kind, inner = match.groups()
    try:
        args = load_yaml(f"[{inner}]")
    except Exception:  # noqa: BLE001  (yaml's errors: a SPEC that is not YAML)
        raise UserError(f"{where}: the arguments are not valid YAML") from None
    if kind == "choice":
        if not args:
            raise UserError(f"{where}: choice() needs at least one value")
        return Space(key, "choice", args)
    log = kind == "log"
    if kind == "int" and len(args) == 3 and args[2] == "log":
        args, log = args[:2], True
    numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    if len(args) != 2 or not numbers or (kind == "int" and not all(isinstance(a, int) for a in args)):
        form = {"int": "int(lo, hi) or int(lo, hi, log) with whole numbers", "float": "float(lo, hi)",
                "log": "log(lo, hi)"}[kind]
        raise UserError(f"{where}: expected {form}")
    lo, hi = args
    if (kind == "int" and lo > hi) or (kind != "int" and lo >= hi):
        raise UserError(f"{where}: the range is empty ({lo} to {hi}); give low < high")
    if log and lo <= 0:
        raise UserError(f"{where}: a log range needs low > 0, got {lo}")
    return Space(key, "float" if kind == "log" else kind, [lo, hi], log)


def objective_name(objective: str | None, monitor: str | None) -> str:
    """The logged name of the validation value to optimise (`val_accuracy`); test values are refused."""
    name = objective or default_objective(monitor)
    name = name.replace(".", "_", 1) if name.startswith(("val.", "test.")) else name
    if name.startswith("test_"):
        raise UserError(f"bad value {objective!r}: the objective chooses the model, and choosing on the test "
                        f"split leaks it into the choice; use val_{name[5:]} (the test values are shown beside "
                        "it)", "--objective")
    return name if name.startswith("val_") else f"val_{name}"


@dataclass
class Search:
    folder: Path
    config: Path
    base: list[str]
    spaces: list[Space]
    search: str
    trials: int
    objective: str  # logged name, e.g. val_loss
    prune: str
    storage: str
    study_name: str
    seed: int
    epochs: int

    @property
    def direction(self) -> str:
        return "maximize" if direction(self.objective) == "max" else "minimize"


def plan(config: Path, spaces: list[str], grid: dict[str, list[Any]], base: list[str], runs_dir: Path,
         search: str, trials: int | None, objective: str | None, prune: str, storage: str | None,
         seed: int) -> Search:
    """Parse and check everything before any point runs: SPECs, keys, the objective."""
    if search not in SEARCHES:
        raise UserError(f"bad value {search!r}: one of {', '.join(SEARCHES)}", "--search")
    if prune not in PRUNERS:
        raise UserError(f"bad value {prune!r}: one of {', '.join(PRUNERS)}", "--prune")
    parsed = [parse_space(s) for s in spaces] + [Space(k, "choice", v) for k, v in grid.items()]
    if not parsed:
        raise UserError("give at least one --space KEY=SPEC (or --grid KEY=V1,V2)", "--space")
    if search == "grid" and any(s.kind != "choice" for s in parsed):
        raise UserError("grid search takes choice(...) spaces or --grid values; use --search tpe or random for "
                        "ranges", "--search")
    cfg = load_config(config, base)
    for s in parsed:  # every value a point can get fits the schema (ranges: both ends)
        for v in s.values:
            try:
                load_config(config, [*base, f"{s.key}={flow(v)}"])
            except UserError as e:
                raise UserError(f"--space {s.key}: the value {flow(v)} does not fit the config: {e}") from None
    if cfg.data.validation_split <= 0 and cfg.data.validation is None:
        raise UserError("a search optimises a validation value; this config has no validation split "
                        "(set data.validation_split > 0)", "--objective")
    name = objective_name(objective, cfg.early_stopping.monitor if cfg.early_stopping else None)
    if trials is None:
        if search != "grid":
            raise UserError(f"--search {search} needs --trials N (the study's total)", "--trials")
        trials = 1
        for s in parsed:
            trials *= len(s.values)
    stem = runs.safe_name(cfg.name or config.stem)
    folder, digest = executor.sweep_folder(runs_dir, stem, "search", config, {
        "set": base, "spaces": [vars(s) for s in parsed], "search": search, "objective": name, "prune": prune,
        "seed": seed})
    return Search(folder, config.resolve(), base, parsed, search, trials, name, prune,
                  storage or str(folder / "study.journal"), f"{stem}-{digest}", seed, cfg.epochs)


def command(s: Search, parallel: int | str = "auto") -> str:
    """One worker's `nnctl sweep` command line: a job array runs it N times on the one study."""
    args = ["nnctl", "sweep", str(s.config), *(a for item in s.base for a in ("--set", item))]
    for sp in s.spaces:
        spec = (f"choice({', '.join(flow(v) for v in sp.values)})" if sp.kind == "choice" else
                f"{'log' if sp.log and sp.kind == 'float' else sp.kind}({sp.values[0]}, {sp.values[1]}"
                f"{', log' if sp.log and sp.kind == 'int' else ''})")
        args += ["--space", f"{sp.key}={spec}"]
    args += ["--search", s.search, "--trials", str(s.trials), "--objective", s.objective, "--prune", s.prune,
             "--seed", str(s.seed), "--runs-dir", str(s.folder.parent), "--parallel", str(parallel)]
    if s.storage != str(s.folder / "study.journal"):
        args += ["--storage", s.storage]
    return shlex.join(args)


def _study(s: Search) -> Any:
    import optuna

    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=s.seed + os.getpid()),
                "random": lambda: optuna.samplers.RandomSampler(seed=s.seed + os.getpid()),
                "grid": lambda: optuna.samplers.GridSampler({sp.key: [json.dumps(v) for v in sp.values]
                                                             for sp in s.spaces}, seed=s.seed)}
    pruner = pruning_mod.pruner(s.prune, s.epochs)
    # The seed moves with the process: workers started together must not propose the same points.
    return optuna.create_study(study_name=s.study_name, storage=pruning_mod.open_storage(s.storage),
                               direction=s.direction, sampler=samplers[s.search](), pruner=pruner,
                               load_if_exists=True)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One process at a time counts the study's trials and asks for the next (an fcntl lock, which
    NFS and other shared file systems honour)."""
    with open(folder / "study.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _requeue_dead(study: Any) -> None:
    """Trials left running by a sweep that was killed on this machine: failed, and their points asked again."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("owner", {})
        if owner.get("host") == host and not _alive(int(owner.get("pid", 0))):
            study._storage.set_trial_user_attr(t._trial_id, "requeued", True)
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"run_name": t.user_attrs.get("run_name")}, skip_if_exists=False)


def _counted(study: Any, upto: int | None = None) -> int:
    """Trials that count towards --trials: all but those a killed sweep left (asked again instead)
    and those asked beyond the total; with `upto`, those numbered up to it."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("requeued")
               and (upto is None or t.number <= upto))


def _surplus(study: Any, trial: Any, total: int) -> bool:
    """A trial asked beyond --trials: processes on other machines (other run folders, so another
    lock) may ask at the same moment; the database numbers trials in order, and those past the
    total are set aside (failed, not counted) instead of trained."""
    from optuna.trial import TrialState

    if _counted(study, trial.number) <= total:
        return False
    study._storage.set_trial_user_attr(trial._trial_id, "requeued", True)
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return True


def run(s: Search, parallel: int = 1, on_event: Callable[[str], None] = lambda m: None,
        worker: Any = None) -> tuple[Any, bool]:
    """Work on the study until it holds --trials trials; returns the study, and whether Ctrl-C or
    SIGTERM stopped the work first."""
    s.folder.mkdir(parents=True, exist_ok=True)
    runs.write_json(s.folder / runs.SWEEP_MANIFEST, {"config": str(s.config), "search": s.search,
                                                     "objective": s.objective, "trials": s.trials,
                                                     "storage": s.storage, "study": s.study_name})
    with _locked(s.folder):
        study = _study(s)
        _requeue_dead(study)
    stop = executor.execute(_Trials(s, study, on_event), parallel, worker)
    return study, bool(stop)


class _Trials:
    """The study's trials as the executor's source: each asked for under the folder's lock (so the
    study never holds more than --trials, however many processes ask), each told its outcome."""

    def __init__(self, s: Search, study: Any, on_event: Callable[[str], None]) -> None:
        self.s, self.study, self.on_event = s, study, on_event
        self.distributions = {sp.key: sp.distribution() for sp in s.spaces}
        self.ended = False  # a point was interrupted: ask for no more

    def take(self) -> tuple[Any, executor.Request] | None:
        s = self.s
        while True:
            with _locked(s.folder):
                if self.ended or _counted(self.study) >= s.trials:
                    return None
                trial = self.study.ask(self.distributions)
                trial.set_user_attr("owner", {"host": socket.gethostname(), "pid": os.getpid()})
                if _surplus(self.study, trial, s.trials):  # another machine asked first: the study is full
                    return None
                # A trial asked again for one a killed sweep left keeps that trial's run folder.
                name = trial.user_attrs.get("run_name") or \
                    f"{s.study_name.rsplit('-', 1)[0]}-t{trial.number + 1:03d}"
                trial.set_user_attr("run_name", name)
            earlier = runs.named(s.folder, name)
            ended = (runs.read_json(earlier / runs.METRICS) or {}).get("status") if earlier else None
            if ended not in ("completed", "pruned"):
                break
            # Its training had ended when the sweep was killed: told, not trained again.
            self.done((trial, []), executor.Reply(0, run_dir=str(earlier)), 0.0)
        overrides = [f"{sp.key}={flow(sp.value(trial.params[sp.key]))}" for sp in s.spaces]
        spec = {"storage": s.storage, "study": s.study_name, "trial_id": trial._trial_id, "objective": s.objective,
                "prune": s.prune, "epochs": s.epochs}
        if earlier is not None:  # resumed where it stopped: listed once, counted once
            request = executor.Request(None, [], str(s.folder), resume=str(earlier), trial=spec,
                                       log=executor.log_path(s.folder, name))
        else:
            request = executor.Request(str(s.config), [*s.base, *overrides], str(s.folder), name, trial=spec,
                                       log=executor.log_path(s.folder, name))
        return (trial, overrides), request

    def done(self, key: tuple[Any, list[str]], reply: executor.Reply, seconds: float) -> None:
        from optuna.trial import TrialState

        trial, overrides = key
        state, value, detail = _outcome(self.s, trial, reply)
        if state is None:  # interrupted: left running, asked again on the next run
            self.ended = True
            return
        try:
            self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except RuntimeError as e:
            # Optuna's GridSampler calls study.stop() after its last point, which ask-and-tell may
            # not (optuna#4121, #5141: "raises RuntimeError just after evaluating the final grid");
            # the trial's state is stored before, so the study is complete as it should be.
            if "Study.stop" not in str(e):
                raise
        self.on_event(f"trial {trial.number + 1}/{self.s.trials} {' '.join(overrides)}: {detail} ({seconds:.1f}s)")


def _outcome(s: Search, trial: Any, reply: executor.Reply) -> tuple[Any, float | None, str]:
    """A trained trial: (its state, objective value, a line for the user)."""
    from optuna.trial import TrialState

    if reply.run_dir:
        trial.set_user_attr("run_dir", reply.run_dir)
    status, meta = executor.outcome(reply.code, reply.run_dir)
    if status == "interrupted":
        return None, None, "interrupted"
    value = (meta.get("val") or {}).get(s.objective[4:])
    if status == "completed" and isinstance(value, (int, float)):
        return TrialState.COMPLETE, float(value), f"{s.objective} {value:.4g}"
    if status == "pruned":
        return TrialState.PRUNED, None, f"pruned at epoch {meta.get('epochs')}"
    return TrialState.FAIL, None, f"failed: {reply.error or f'exit {reply.code}'}"


def summary(s: Search, study: Any) -> dict[str, Any]:
    """What the sweep folder ends with (search.json): the best trial's overrides as a --set line,
    each parameter's importance, every trial's state and value; the plots beside it."""
    from optuna.trial import TrialState

    from nnctl.run import plots

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    trials = [{"number": t.number + 1, "state": t.state.name.lower(), "value": t.value,
               "params": {sp.key: sp.value(t.params[sp.key]) for sp in s.spaces if sp.key in t.params},
               "run_dir": t.user_attrs.get("run_dir")} for t in study.get_trials(deepcopy=False)
              if not t.user_attrs.get("requeued")]
    out: dict[str, Any] = {"objective": s.objective, "direction": s.direction, "trials": trials}
    if done:
        best = study.best_trial
        sets = [f"{sp.key}={flow(sp.value(best.params[sp.key]))}" for sp in s.spaces]
        out["best"] = {"number": best.number + 1, "value": best.value, "run_dir": best.user_attrs.get("run_dir"),
                       "set": " ".join(f"--set {shlex.quote(x)}" for x in sets)}
    if len(done) >= 2 and len(s.spaces) >= 1:
        import optuna

        try:
            out["importance"] = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (RuntimeError, ValueError) as e:  # every point alike, or a single value per parameter
            out["importance_note"] = str(e)
    runs.write_json(s.folder / "search.json", out)
    plots.search(trials, s.objective, s.direction, [sp.key for sp in s.spaces], s.folder / "search.png")
    return out
