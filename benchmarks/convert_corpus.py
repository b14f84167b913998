"""`nnctl convert` on public Keras scripts nobody here wrote: one row per script.

    python benchmarks/convert_corpus.py gather [--mirrors DIR]   # copy the corpus into benchmarks/corpus/
    python benchmarks/convert_corpus.py [--only NAME]            # convert each script and compare

The corpus is every script of Keras 2.3.1's `examples/` (MIT licence) and a list of keras.io
examples (Apache 2.0, as ported to Keras 3 in keras-team/keras), read from a git checkout of keras-team/keras
(`--mirrors DIR` holds it as DIR/keras-team+keras; without one it is cloned from GitHub).
The scripts stay out of this repository (benchmarks/corpus/ is git-ignored): MANIFEST says where
each one comes from.

Each row compares `nnctl convert`'s outcome with the script's own model, built for real in a
subprocess: the script runs with keras.datasets answering arrays of the real shapes (zeros, and
labels over the real classes), and stops at its first fit(), whose model is counted. Outcomes:

    exact      exit 0, and the config's model has the script's trainable and total parameters
    wrong      exit 0 with a different model (the contract says this never happens)
    refused    exit 2 with one line per construct, each naming file:line (`unnamed` where not)
    error      anything else from nnctl (an internal error)
    unbuilt    the script's own model could not be built here (it needs a download or a GPU, ...)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
KERAS2 = ("keras-team/keras", "2.3.1", "examples", "MIT")
# keras.io's examples as ported to Keras 3 inside keras-team/keras (Apache 2.0), before they moved out
KERAS_IO = ("keras-team/keras", "e5dad3905969e62a85f6da6aefead2790a8aa8f1^", "Apache-2.0", [
    f"examples/keras_io/{p}" for p in (
        "vision/mnist_convnet.py", "vision/autoencoder.py", "vision/conv_lstm.py",
        "vision/image_classification_from_scratch.py", "vision/super_resolution_sub_pixel.py",
        "vision/oxford_pets_image_segmentation.py", "vision/siamese_contrastive.py", "nlp/addition_rnn.py",
        "nlp/bidirectional_lstm_imdb.py", "nlp/lstm_seq2seq.py", "timeseries/timeseries_classification_from_scratch.py",
        "timeseries/timeseries_weather_forecasting.py", "timeseries/timeseries_anomaly_detection.py",
        "tensorflow/structured_data/imbalanced_classification.py", "tensorflow/nlp/text_classification_from_scratch.py",
        "tensorflow/nlp/pretrained_word_embeddings.py", "tensorflow/keras_recipes/antirectifier.py",
        "tensorflow/generative/lstm_character_level_text_generation.py", "tensorflow/vision/mixup.py")])


def _repo(mirrors: Path | None, name: str) -> Path:
    if mirrors is not None:
        found = [p for p in (mirrors / name.replace("/", "+") / "repo", mirrors / name.replace("/", "+"))
                 if (p / "HEAD").exists() or (p / ".git").exists()]
        if found:
            return found[0]
    target = CORPUS / ".git-cache" / name.replace("/", "+")
    if not target.exists():
        subprocess.run(["git", "clone", "--bare", "--filter=blob:none", f"https://github.com/{name}", str(target)],
                       check=True)
    return target


def _show(repo: Path, rev: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo if (repo / "HEAD").exists() else repo / ".git"), "show",
                           f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout


def gather(mirrors: Path | None) -> None:
    shutil.which("git") or sys.exit("gather needs git")
    CORPUS.mkdir(exist_ok=True)
    manifest = []
    name, rev, folder, licence = KERAS2
    repo = _repo(mirrors, name)
    git = str(repo if (repo / "HEAD").exists() else repo / ".git")
    listed = subprocess.run(["git", "--git-dir", git, "ls-tree", "--name-only", f"{rev}:{folder}"],
                            capture_output=True, text=True, check=True).stdout.split()
    for f in sorted(p for p in listed if p.endswith(".py")):
        out = CORPUS / f"keras2_{f}"
        out.write_text(_show(repo, rev, f"{folder}/{f}"))
        manifest.append({"file": out.name, "repo": name, "rev": rev, "path": f"{folder}/{f}", "licence": licence})
    name, rev, licence, paths = KERAS_IO
    repo = _repo(mirrors, name)
    for p in paths:
        out = CORPUS / f"kerasio_{Path(p).name}"
        try:
            out.write_text(_show(repo, rev, p))
        except subprocess.CalledProcessError:
            continue
        manifest.append({"file": out.name, "repo": name, "rev": rev, "path": p, "licence": licence})
    (CORPUS / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    print(f"{len(manifest)} scripts in {CORPUS}")


# ---------------------------------------------------------------- the script's own model

REFERENCE = r'''
import builtins, importlib, json, os, signal, sys, types
import numpy as np
import keras

class Captured(BaseException):
    pass

# The real sets' shapes (training rows, test rows): scripts reshape with literal row counts.
SETS = {"mnist": ((28, 28), 10, 60000, 10000), "fashion_mnist": ((28, 28), 10, 60000, 10000),
        "cifar10": ((32, 32, 3), 10, 50000, 10000), "cifar100": ((32, 32, 3), 100, 50000, 10000),
        "boston_housing": ((13,), None, 404, 102), "california_housing": ((8,), None, 16512, 4128)}

def fake_set(shape, classes, n, m):
    def part(rows):
        if classes is None:
            return np.zeros((rows, *shape), "float32"), np.zeros(rows, "float32")
        y = (np.arange(rows) % classes).astype("uint8")
        return np.zeros((rows, *shape), "uint8"), y[:, None] if len(shape) == 3 else y
    return lambda *a, **k: (part(n), part(m))

def text_set(classes, n, m):
    def load_data(num_words=None, maxlen=None, **k):
        def part(rows):
            seqs = np.empty(rows, dtype=object)
            for i in range(rows):
                seqs[i] = [1] + [min(j + 2, (num_words or 1000) - 1) for j in range(20)]
            return seqs, (np.arange(rows) % classes).astype("int64")
        return part(n), part(m)
    return load_data

for name, spec in SETS.items():
    getattr(keras.datasets, name).load_data = fake_set(*spec)
keras.datasets.imdb.load_data = text_set(2, 25000, 25000)
keras.datasets.reuters.load_data = text_set(46, 8982, 2246)

class Tokenizer:  # Keras 2's keras.preprocessing.text, gone from Keras 3
    def __init__(self, num_words=None, **k):
        self.num_words, self.word_index = num_words, {f"w{i}": i for i in range(1, 100)}
    def fit_on_texts(self, texts):
        pass
    def texts_to_sequences(self, texts):
        return [[1, 2, 3] for _ in texts]
    def sequences_to_matrix(self, seqs, mode="binary"):
        return np.zeros((len(seqs), self.num_words), "float32")
class Flow:
    def __init__(self, x, y=None, batch_size=32, **k):
        self.x, self.y = x, y

class ImageDataGenerator:  # Keras 2's, gone from Keras 3: the model does not depend on it
    def __init__(self, **k):
        pass
    def fit(self, x, **k):
        pass
    def flow(self, x, y=None, **k):
        return Flow(x, y, **k)
keras.preprocessing.image.ImageDataGenerator = ImageDataGenerator

text = types.ModuleType("keras.preprocessing.text")
text.Tokenizer = Tokenizer
text.text_to_word_sequence = lambda t, **k: t.split()
sys.modules["keras.preprocessing.text"] = keras.preprocessing.text = text
keras.datasets.imdb.get_word_index = lambda *a, **k: {f"w{i}": i for i in range(1, 100)}
keras.datasets.reuters.get_word_index = keras.datasets.imdb.get_word_index

# Keras 2's module paths, for scripts that import from them
LAYERS = ("core", "convolutional", "recurrent", "embeddings", "pooling", "normalization", "merge", "wrappers",
          "advanced_activations", "noise", "local", "convolutional_recurrent", "cudnn_recurrent")
for sub in LAYERS:
    sys.modules[f"keras.layers.{sub}"] = keras.layers
for sub in ("np_utils", "data_utils", "vis_utils", "generic_utils"):
    sys.modules[f"keras.utils.{sub}"] = keras.utils
sys.modules["keras.engine"] = sys.modules["keras.engine.topology"] = keras.layers
sys.modules["keras.backend.tensorflow_backend"] = keras.backend

def plain(v):  # Keras 2 took NumPy integers where Keras 3 checks for int: units=np.max(y) + 1
    return int(v) if isinstance(v, np.integer) else v

def coercing(init):
    def __init__(self, *a, **k):
        init(self, *[plain(v) for v in a], **{n: plain(v) for n, v in k.items()})
    return __init__

for name in dir(keras.layers):
    cls = getattr(keras.layers, name)
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer) and "__init__" in vars(cls):
        cls.__init__ = coercing(cls.__init__)

captured = []

def capture(self, *a, **k):
    x = a[0] if a else k.get("x")
    x = getattr(x, "x", x)  # ImageDataGenerator.flow(x, y)
    if x is not None:  # every layer built on the data, as fit would (Keras 3 builds a Sequential lazily)
        try:
            self(x[:2] if not isinstance(x, (list, dict)) else [v[:2] for v in x] if isinstance(x, list)
                 else {n: v[:2] for n, v in x.items()})
        except Exception:
            pass
    captured.append(self)
    raise Captured()

for cls in (keras.Model,):
    for method in ("fit", "fit_generator", "train_on_batch", "evaluate", "predict"):
        setattr(cls, method, capture)

def no_download(*a, **k):
    raise SystemExit("needs a download: keras.utils.get_file")
keras.utils.get_file = no_download

def keras2_defaults():  # Keras 2.3.1's own defaults where Keras 3 changed them
    init = keras.layers.GRU.__init__
    def gru(self, *a, **k):
        k.setdefault("reset_after", False)
        init(self, *a, **k)
    keras.layers.GRU.__init__ = gru

QUIET = True  # the scripts print: their children's output goes to /dev/null

def measure(path):
    if os.path.basename(path).startswith("keras2_"):
        keras2_defaults()
    source = open(path).read()
    sys.argv = [path]
    os.chdir(os.path.dirname(path))
    scope = {"__name__": "__main__", "__file__": path}
    error = None
    try:
        exec(compile(source, path, "exec"), scope)
    except Captured:
        pass
    except BaseException as e:
        error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
    model = captured[0] if captured else next((v for v in reversed(list(scope.values()))
                                               if isinstance(v, keras.Model)), None)
    if model is None:
        return {"error": error or "no model"}
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"total": model.count_params(), "trainable": trainable, "after_error": error}

'''


# Each program above defines measure(path); this runs it in a fork per script, from the same clean imported state.
FORK_EACH = r'''
for path in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        if globals().get("QUIET"):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
        signal.alarm(300)
        try:
            result = measure(path)
        except BaseException as e:
            result = {"error": f"{type(e).__name__}: {e}"[:300]}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    print(json.dumps({"script": path, **(json.loads(data) if data else {"error": "killed"})}), flush=True)
'''


def forked(program: str, scripts: list[Path], env: dict[str, str] | None = None) -> dict[str, dict]:
    """`program` run once over all the scripts (it forks per script): script path -> its result."""
    p = subprocess.run([sys.executable, "-c", program + FORK_EACH, *map(str, scripts)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    found = {}
    for line in p.stdout.splitlines():
        if line.startswith('{"script"'):
            r = json.loads(line)
            found[r.pop("script")] = r
    why = (p.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return {str(s): found.get(str(s), {"error": why}) for s in scripts}


# ---------------------------------------------------------------- nnctl's side

CONVERTED = r'''
import json, os, signal, sys, traceback
from pathlib import Path
import numpy as np
from nnctl.errors import UserError
from nnctl.commands.convert import convert
from nnctl.config import validate
from nnctl.config.data import PLACEHOLDER
from nnctl.engine.prepare import prepare
from nnctl.model.build import build
import tempfile
home = tempfile.mkdtemp()
os.makedirs(f"{home}/datasets")
for name, n, classes in (("imdb", 25000, 2), ("reuters", 8982, 46)):  # Keras' own file format
    seqs = np.empty(n, dtype=object)
    for i in range(n):
        seqs[i] = [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65]
    np.savez(f"{home}/datasets/{name}.npz", x_train=seqs, y_train=np.arange(n) % classes, x_test=seqs,
             y_test=np.arange(n) % classes, x=np.concatenate([seqs, seqs]), y=np.arange(2 * n) % classes)
np.savez(f"{home}/datasets/boston_housing.npz", x=np.zeros((506, 13)), y=np.zeros(506))
os.environ["KERAS_HOME"] = home
from nnctl.daemon.server import preload
preload()  # imported as the warm server imports them, TensorFlow's runtime not started: safe to fork

def measure(path):
    try:
        out = convert(Path(path))
    except UserError as e:
        return {"refused": str(e)}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    cfg = out.config
    shape = cfg.get("input_shape")
    try:
        if shape is not None and not isinstance(cfg["layers"], dict):
            cfg = {**cfg, "data": {**cfg["data"], "source": "x.csv"}}
            model = build(validate(cfg), tuple(shape))
        elif cfg["data"]["source"] != PLACEHOLDER:
            model = prepare(validate(cfg)).model
        else:
            return {"config_error": "no input shape and no data to read it from", "warnings": out.warnings}
    except UserError as e:
        return {"config_error": str(e)[:300], "warnings": out.warnings}
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"total": model.count_params(), "trainable": trainable, "warnings": out.warnings}

'''


def row(script: Path, ours: dict, theirs: dict) -> dict:
    if "error" in ours:
        outcome, detail = "error", ours["error"]
    elif "refused" in ours:
        lines = ours["refused"].splitlines()
        named = all(re.search(r"\.py:\d+:", ln) for ln in lines)
        outcome, detail = ("refused" if named else "refused-unnamed"), lines[0][:160]
    elif "error" in theirs:
        outcome, detail = "unbuilt", theirs["error"]
    elif "config_error" in ours:
        outcome, detail = "wrong", f"the written config does not build: {ours['config_error']}"
    elif (ours["total"], ours["trainable"]) == (theirs["total"], theirs["trainable"]):
        outcome, detail = "exact", ""
    else:
        outcome = "wrong"
        detail = f"{ours['total']:,} params ({ours['trainable']:,} trainable) vs the script's {theirs['total']:,} " \
                 f"({theirs['trainable']:,})"
    return {"script": script.name, "outcome": outcome, "script_params": theirs.get("total"),
            "config_params": ours.get("total"), "detail": detail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "gather"])
    parser.add_argument("--mirrors", type=Path)
    parser.add_argument("--only", action="append")
    args = parser.parse_args()
    if args.command == "gather":
        gather(args.mirrors)
        return
    if not (CORPUS / "MANIFEST.json").exists():
        sys.exit("no corpus: run `python benchmarks/convert_corpus.py gather` first")
    scripts = [CORPUS / e["file"] for e in json.loads((CORPUS / "MANIFEST.json").read_text())]
    scripts = [s for s in scripts if not args.only or any(o in s.name for o in args.only)]
    totals: dict[str, int] = {}
    ours = forked(CONVERTED, scripts, {"NNCTL_OFFLINE": "1"})
    theirs = forked(REFERENCE, scripts)
    print(f"{'script':44} {'outcome':16} {'script':>11} {'config':>11}  detail")
    for s in scripts:
        r = row(s, ours[str(s)], theirs[str(s)])
        totals[r["outcome"]] = totals.get(r["outcome"], 0) + 1
        sp = f"{r['script_params']:,}" if r["script_params"] is not None else "-"
        cp = f"{r['config_params']:,}" if r["config_params"] is not None else "-"
        print(f"{r['script']:44} {r['outcome']:16} {sp:>11} {cp:>11}  {r['detail']}", flush=True)
    built = sum(v for k, v in totals.items() if k != "unbuilt")
    print(f"\n{len(scripts)} scripts: " + ", ".join(f"{v} {k}" for k, v in sorted(totals.items())) +
          f"; exact {totals.get('exact', 0)}/{built} of those whose model builds here")


if __name__ == "__main__":
    main()
