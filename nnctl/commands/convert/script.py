"""A Keras script read statement by statement with `ast`, never run: imports and constants, the
model (Sequential lists, `add` chains, functional calls), compile, fit, ImageDataGenerator,
callbacks and `keras.datasets`. What has no config equivalent is noted with its line."""

from __future__ import annotations

import ast
from typing import Any

from nnctl.commands.convert import keras_args
from nnctl.commands.convert.calls import Calls
from nnctl.commands.convert.parts import Found, Model, Tensor
from nnctl.commands.convert.values import Names, Unknown

LOOP_LIMIT = 1000  # a `for` over range() is unrolled up to this many turns


class Reader(Calls):
    """The statements of a script, in order; each expression through `Calls`."""

    def __init__(self, tree: ast.Module) -> None:
        self.names = Names()
        self.found = Found()
        self.objects: dict[str, Any] = {}  # variable -> Model, Tensor, layer entry, optimizer, generator, ...
        self.functions: dict[str, ast.FunctionDef] = {}
        self.classes: dict[str, int] = {}  # the script's own Layer/Model subclasses -> their line
        self.app_tensors: dict[int, tuple[Tensor, Tensor]] = {}  # an application's (.input, .output)
        self.keras2 = standalone_keras2(tree)
        self.body(tree.body)

    def note(self, node: ast.AST, text: str, warn: bool = True) -> None:
        entry = (getattr(node, "lineno", 0), text, warn)
        if entry not in self.found.notes:  # a loop unrolled 199 times says it once
            self.found.notes.append(entry)

    def refuse(self, node: ast.AST, text: str) -> None:
        """Something the script's model or training needs that a config cannot say: converting without it
        would give a different model with exit 0."""
        entry = (getattr(node, "lineno", 0), text)
        if entry not in self.found.refusals:
            self.found.refusals.append(entry)

    # ------------------------------------------------------------ statements

    def body(self, statements: list[ast.stmt]) -> Any:
        for s in statements:
            try:
                if isinstance(s, ast.Return):
                    return self.expr(s.value) if s.value is not None else None
                self.statement(s)
            except Unknown as e:
                if self.touches_model(s) or isinstance(s, ast.Return):
                    self.refuse(s, e.describe())
                e.line = e.line or s.lineno
        return None

    def statement(self, s: ast.stmt) -> None:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            self.names.imported(s)
        elif isinstance(s, ast.FunctionDef):
            self.functions[s.name] = s
        elif isinstance(s, ast.ClassDef):
            bases = [self.names.keras(b) for b in s.bases]
            if any(b and b[0] in ("layers", "models") for b in bases) or any(
                    isinstance(b, ast.Name) and b.id in self.classes for b in s.bases):
                self.classes[s.name] = s.lineno
        elif isinstance(s, ast.Assign):
            self.assign(s)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(ast.Assign(targets=[s.target], value=s.value, lineno=s.lineno))
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            self.expr(s.value)
        elif isinstance(s, ast.If):
            self.branch(s)
        elif isinstance(s, ast.For):
            self.loop(s)
        elif isinstance(s, ast.With):
            if any("GradientTape" in ast.unparse(item.context_expr) for item in s.items) and self.touches_model(s):
                self.refuse(s, "a custom training loop (GradientTape) has no config form: nnctl trains with fit")
            else:
                self.body(s.body)
        elif isinstance(s, ast.Try):
            self.body(s.body)  # the model built in a try block is the model the script trains
        elif isinstance(s, ast.While) and self.touches_model(s):
            self.refuse(s, "a while loop that builds or trains the model: how often it runs is known only at run time")

    def touches_model(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and isinstance(self.objects.get(n.id), (Model, Tensor))
                   for n in ast.walk(node)) or any(isinstance(n, ast.Call) and self.names.keras(n.func) is not None
                                                   and self.names.keras(n.func)[0] == "layers" for n in ast.walk(node))

    def branch(self, s: ast.If) -> None:
        test = ast.unparse(s.test)
        if test.replace('"', "'") in ("__name__ == '__main__'",):
            self.body(s.body)
            return
        if "image_data_format" in test or "channels_first" in test:  # Keras' default is channels_last
            chosen = s.orelse if "channels_first" in test else s.body
            self.note(s, f"if {test}: read as channels_last, Keras' default", warn=False)
            self.body(chosen)
            return
        try:
            self.body(s.body if self.names.value(s.test) else s.orelse)
        except Unknown:
            if self.touches_model(s):
                self.refuse(s, f"if {test}: which branch builds the model is decided at run time")
            else:
                self.body(s.body)

    def loop(self, s: ast.For) -> None:
        owner = self.objects.get(ast.unparse(s.iter.value)) if isinstance(s.iter, ast.Attribute) and \
            s.iter.attr == "layers" else None
        frozen = [n for n in ast.walk(s) if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Attribute)
                  and n.targets[0].attr == "trainable"]
        if isinstance(owner, dict) and frozen and isinstance(next(iter(owner.values())), dict):
            # for layer in base.layers: layer.trainable = False -> the application frozen
            next(iter(owner.values()))["trainable"] = bool(self.names.value(frozen[0].value))
            if any(isinstance(n, ast.Subscript) for n in ast.walk(s.iter)) or len(s.body) > 1:
                self.refuse(s, "a loop freezing some of the application's layers: the config freezes all of it or "
                               "unfreezes from a named layer (fine_tune_from)")
            return
        try:
            if not isinstance(s.target, ast.Name):
                raise Unknown("target")
            it = s.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
                values = list(range(*[int(self.names.value(a)) for a in it.args]))
            else:
                values = list(self.names.value(it))
            if len(values) > LOOP_LIMIT:
                raise Unknown("too long")
        except (Unknown, TypeError, ValueError):
            if self.touches_model(s):
                self.refuse(s, "a loop over values known only at run time builds layers")
            return
        for v in values:  # a loop over constants that adds layers: unrolled
            self.names.consts[s.target.id] = v
            self.body(s.body)

    def assign(self, s: ast.Assign) -> None:
        target = s.targets[0]
        if isinstance(target, ast.Attribute) and target.attr == "trainable":
            owner = self.objects.get(ast.unparse(target.value))
            if isinstance(owner, dict) and len(owner) == 1 and keras_args.is_application(next(iter(owner))):
                next(iter(owner.values()))["trainable"] = bool(self.names.value(s.value))
            return
        if isinstance(target, ast.Tuple) and isinstance(s.value, ast.Call):
            self.expr(s.value)  # (x_train, y_train), (x_test, y_test) = mnist.load_data()
            self.names.dataset_shapes(target, self.found.dataset)
            return
        if isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
            try:  # img_rows, img_cols = 28, 28
                values = self.names.value(s.value)
                if isinstance(values, list) and len(values) == len(target.elts):
                    self.names.consts.update({e.id: v for e, v in zip(target.elts, values, strict=True)})
            except Unknown:
                pass
            return
        if not isinstance(target, ast.Name):
            return
        self.names.reshaped(target.id, s.value)
        if isinstance(s.value, (ast.List, ast.Tuple)) and not self.is_literal(s.value):  # callbacks = [...]
            self.objects[target.id] = [self.expr(e) for e in s.value.elts]
            return
        path = self.names.dotted(s.value)
        if path is not None and path.split(".")[0] in ("keras", "tensorflow"):  # fashion_mnist = tf.keras.datasets....
            self.names.aliases[target.id] = path
            return
        try:
            self.names.consts[target.id] = self.names.value(s.value)
            return
        except Unknown:
            self.names.consts.pop(target.id, None)
        value = self.expr(s.value)
        if value is not None:
            self.objects[target.id] = value
            if isinstance(value, Tensor) and value.name is None:
                value.name = target.id
        else:
            self.objects.pop(target.id, None)

    def is_literal(self, node: ast.AST) -> bool:
        try:
            self.names.value(node)
            return True
        except Unknown:
            return False

    # ------------------------------------------------------------ expressions


def standalone_keras2(tree: ast.Module) -> bool:
    """A script for Keras 2 itself (`import keras`, not tf.keras): Keras 2 module paths, Keras 2 argument
    spellings, fit_generator, or Python 2's print_function. Its defaults differ from Keras 3's (GRU)."""
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = [a.name for n in imports if isinstance(n, ast.Import) for a in n.names] + \
              [n.module or "" for n in imports if isinstance(n, ast.ImportFrom)]
    if not any(m == "keras" or m.startswith("keras.") for m in modules):
        return False
    old_paths = any(m.startswith(("keras.layers.", "keras.utils.np_utils", "keras.engine", "keras.legacy"))
                    for m in modules)
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    spellings = any(k.arg in ("lr", "nb_epoch", "output_dim", "border_mode", "init") for c in calls for k in c.keywords)
    generator = any(isinstance(c.func, ast.Attribute) and c.func.attr == "fit_generator" for c in calls)
    return old_paths or future or spellings or generator
