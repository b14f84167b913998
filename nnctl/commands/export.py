"""Export a run's model for serving, and prove the export predicts what the original does.

keras: a plain copy of the model file; saved_model: TensorFlow's SavedModel (`model.export`);
tflite: converted from that SavedModel; onnx: through tf2onnx (the optional `onnx` extra).
Each export is reloaded with its own runtime and run on samples of the run's test split.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nnctl import data as data_mod
from nnctl.backend import keras, quiet
from nnctl.choices import FORMATS
from nnctl.data import pipeline
from nnctl.errors import UserError, one_line
from nnctl.model import saved
from nnctl.run.folder import RunFolder

SAMPLES = 8
TOLERANCE = 1e-4


def export_run(run: Path, fmt: str, output: Path | None = None) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise UserError(f"bad value {fmt!r}: one of {', '.join(FORMATS)}", "--format")
    folder = RunFolder(run)
    model_path = folder.model
    model = folder.load_model()
    x = _samples(run)
    expected = trained = _by_output(pipeline.predict(model, x, SAMPLES))
    policy = saved.mixed_policy(model_path)
    if policy is not None and fmt != "keras":
        # Serving formats get a float32 copy (TFLite and ONNX have no bfloat16 kernels; a SavedModel
        # runs on devices without them); the export is checked against that copy, exactly.
        model = saved.load_float32(model_path)
        expected = _by_output(pipeline.predict(model, x, SAMPLES))
    target = output or folder.export / {"keras": "model.keras", "saved_model": "saved_model",
                                         "tflite": "model.tflite", "onnx": "model.onnx"}[fmt]
    target.parent.mkdir(parents=True, exist_ok=True)
    got = {"keras": _keras, "saved_model": _saved_model, "tflite": _tflite, "onnx": _onnx}[fmt](model, model_path,
                                                                                           target, x)
    got = _by_output(got)
    if sorted(got) != sorted(expected):
        raise UserError(f"the {fmt} export gives outputs {', '.join(sorted(got))}, the model "
                        f"{', '.join(sorted(expected))}; the export is not usable")
    diffs = {n: float(np.max(np.abs(np.asarray(got[n]).reshape(e.shape) - e))) for n, e in expected.items()}
    worst = max(diffs, key=lambda n: diffs[n])  # every output checked; the worst is the one reported
    if not diffs[worst] <= TOLERANCE:
        what = f"output {worst}'s" if len(diffs) > 1 else "predictions"
        raise UserError(f"the {fmt} export's {what} differ from the model's by {diffs[worst]:.3g} "
                        f"(more than {TOLERANCE}) on {len(expected[worst])} test samples; the export is not usable")
    result = {"run": str(run), "format": fmt, "path": str(target), "samples": int(len(expected[worst])),
              "max_abs_diff": diffs[worst]}
    if len(diffs) > 1:
        result["max_abs_diff_per_output"] = diffs
    if expected is not trained:  # how far float32 moved the predictions from the model as trained
        result["converted"] = f"float32 (trained in {policy})"
        result["max_abs_diff_vs_trained"] = max(float(np.max(np.abs(expected[n] - trained[n]))) for n in trained)
    return result


def _by_output(out: Any) -> dict[str, np.ndarray]:
    """Predictions keyed by output name; one unnamed output as "output" (a runtime's own name for it,
    such as TFLite's output_0, is dropped)."""
    if isinstance(out, dict):
        out = {k: np.asarray(v) for k, v in out.items()}
        return out if len(out) > 1 else {"output": next(iter(out.values()))}
    return {"output": np.asarray(out)}


def _samples(run: Path) -> Any:
    """The first few examples of the run's test split, as the model takes them."""
    cfg = RunFolder(run).read_config()
    data = data_mod.load(cfg)
    test = data.test.take(slice(0, SAMPLES))
    x = test.x
    if isinstance(x, dict):
        return x
    return np.asarray(x.read(0, len(test)) if hasattr(x, "read") else x, dtype=None)


def _keras(model: Any, model_path: Path, target: Path, x: Any) -> Any:
    shutil.copyfile(model_path, target)
    return pipeline.predict(saved.load_model(target, "the exported copy"), x, SAMPLES)


def _write_saved_model(model: Any, path: str, x: Any) -> None:
    """A SavedModel whose `serve` runs the model in inference mode.

    model.export's default endpoint calls the model without training=False, and Keras'
    random augmentation layers then augment: predictions would not match.
    """
    import tensorflow as tf

    def spec(a: Any, name: str) -> Any:
        a = np.asarray(a)
        return tf.TensorSpec((None, *a.shape[1:]), tf.string if a.dtype.kind in "OUS" else tf.float32, name=name)

    signature = {k: spec(v, k) for k, v in x.items()} if isinstance(x, dict) else spec(x, "inputs")
    archive = keras().export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=lambda inputs: model(inputs, training=False), input_signature=[signature])
    archive.write_out(path, verbose=False)


def _saved_model(model: Any, model_path: Path, target: Path, x: Any) -> Any:
    import tensorflow as tf

    if target.exists():
        shutil.rmtree(target)
    _write_saved_model(model, str(target), x)
    served = tf.saved_model.load(str(target))  # held: its variables die with it
    return tf.nest.map_structure(np.asarray, served.serve(x))


def _tflite(model: Any, model_path: Path, target: Path, x: Any) -> Any:
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        _write_saved_model(model, tmp, x)
        target.write_bytes(_tflite_convert(tf, tmp))
    with quiet():  # the runtime announces its XNNPACK delegate on descriptor 2
        interpreter = tf.lite.Interpreter(model_path=str(target))
        if isinstance(x, dict):  # named inputs and outputs: the signature runner maps them by name
            runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
            return runner(**{k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind not in "OUS" else v
                             for k, v in x.items()})
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], [len(x), *x.shape[1:]])
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], np.asarray(x, dtype=inp["dtype"]))
        interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _tflite_convert(tf: Any, saved_model: str) -> bytes:
    """TFLite's own ops only: models that need TensorFlow's (Select ops: LSTMs, a convolution after
    UpSampling2D) would need the Flex delegate, which TensorFlow's pip interpreter lacks, so the
    export could not be checked; they are refused with the converter's reason (use onnx)."""
    try:
        with quiet():
            return tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
    except Exception as e:  # noqa: BLE001  (the converter raises many types for an op it lacks)
        raise UserError(f"TFLite cannot convert this model with its own ops ({one_line(e)[:200]}); "
                        "use --format onnx or saved_model", "--format") from None


def _onnx(model: Any, model_path: Path, target: Path, x: Any) -> Any:
    """Converted from the same inference-mode SavedModel as tflite: its graph holds the constants
    that a traced function only captures (Normalization's mean and variance), which tf2onnx's
    from_function leaves as inputs nobody feeds."""
    try:
        import onnxruntime as ort
        import tf2onnx
        from tf2onnx import tf_loader
    except ImportError:
        raise UserError("onnx export needs tf2onnx and onnxruntime: pip install 'nnctl[onnx]'", "--format") from None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, quiet():
        _write_saved_model(model, tmp, x)
        try:
            # Tensors renamed to the signature's own names: inputs and outputs by name (specs, mpg, ...).
            graph, inputs, outputs, names = tf_loader.from_saved_model(
                tmp, None, None, tag="serve", signatures=["serve"], return_tensors_to_rename=True)
            proto, _ = tf2onnx.convert.from_graph_def(graph, input_names=inputs, output_names=outputs, opset=17,
                                                      tensors_to_rename=names)
        except Exception as e:  # noqa: BLE001  (tf2onnx raises many types for an op it cannot convert)
            raise UserError(f"tf2onnx cannot convert this model: {one_line(e)[:200]}", "--format") from None
    target.write_bytes(proto.SerializeToString())
    try:
        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001  (onnxruntime's own error types for a graph it cannot load)
        target.unlink()
        raise UserError(f"onnxruntime cannot run the converted model ({one_line(e)[-160:]}); string lookups "
                        "and text vectorization have no ONNX ops: use --format saved_model or keras",
                        "--format") from None
    if not isinstance(x, dict):
        return session.run(None, {session.get_inputs()[0].name: np.asarray(x, dtype=np.float32)})[0]
    feed = {i.name: (np.asarray(x[i.name]) if i.type == "tensor(string)" else np.asarray(x[i.name], np.float32))
            for i in session.get_inputs()}
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))
