"""The expressions of a Keras script, read without running them: layers and their arguments, Keras
calls, the script's own functions called with their arguments, models applied as layers, and the
model's methods (compile, fit). `Reader` (script.py) reads the statements around them."""

from __future__ import annotations

import ast
from typing import Any

from nnctl.commands.convert import keras_args
from nnctl.commands.convert.parts import Found, Model, Tensor, arguments, fixed, is_layer
from nnctl.commands.convert.values import Names, Unknown, kwargs

# Keras 2's ImageDataGenerator defaults: a script that spells them out asks for nothing.
IMAGE_DATA_DEFAULTS = {"featurewise_center": False, "samplewise_center": False, "featurewise_std_normalization": False,
                       "samplewise_std_normalization": False, "zca_whitening": False, "zca_epsilon": 1e-06,
                       "rotation_range": 0, "width_shift_range": 0.0, "height_shift_range": 0.0,
                       "brightness_range": None, "shear_range": 0.0, "zoom_range": 0.0, "channel_shift_range": 0.0,
                       "fill_mode": "nearest", "cval": 0.0, "horizontal_flip": False, "vertical_flip": False,
                       "rescale": None, "preprocessing_function": None, "data_format": None, "validation_split": 0.0}


class Calls:
    """The expression half of `Reader`: the state below is the Reader's."""

    names: Names
    found: Found
    objects: dict[str, Any]
    functions: dict[str, ast.FunctionDef]
    classes: dict[str, int]
    app_tensors: dict[int, tuple[Tensor, Tensor]]
    keras2: bool  # a script for standalone Keras 2, whose defaults differ

    def note(self, node: ast.AST, text: str, warn: bool = True) -> None:
        raise NotImplementedError

    def refuse(self, node: ast.AST, text: str) -> None:
        raise NotImplementedError

    def body(self, statements: list[ast.stmt]) -> Any:
        raise NotImplementedError

    def expr(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Name):
            return self.objects.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr in ("output", "input"):
            owner = self.objects.get(ast.unparse(node.value))
            if isinstance(owner, dict):  # an application's .input / .output, functional style
                if id(owner) not in self.app_tensors:
                    args = next(iter(owner.values()))
                    inputs = Tensor("input", args.pop("_input_shape", None) if isinstance(args, dict) else None)
                    self.app_tensors[id(owner)] = (inputs, Tensor("layer", owner, [inputs]))
                inputs, output = self.app_tensors[id(owner)]
                return inputs if node.attr == "input" else output
            if isinstance(owner, Model) and owner.outputs:
                return owner.outputs[0] if node.attr == "output" else owner.inputs[0]
            return None
        if not isinstance(node, ast.Call):
            return None
        if isinstance(node.func, ast.Call):  # Dense(10)(x): a layer applied to a tensor
            layer = self.expr(node.func)
            return self.apply(node, layer, node.args[0] if node.args else None)
        if isinstance(node.func, ast.Name) and node.func.id in self.functions:
            return self.call(self.functions[node.func.id], node)  # a model-building function, read in place
        if isinstance(node.func, ast.Name) and node.func.id in self.classes:
            self.refuse(node, f"{node.func.id} is the script's own Layer or Model subclass (class at line "
                              f"{self.classes[node.func.id]}): it has no config form (nnctl builds from Keras' "
                              "registered layers)")
            return None
        if isinstance(node.func, ast.Name) and isinstance(self.objects.get(node.func.id), (dict, str)):
            return self.apply(node, self.objects[node.func.id], node.args[0] if node.args else None)
        if isinstance(node.func, ast.Name) and isinstance(self.objects.get(node.func.id), Model):
            return self.inline(self.objects[node.func.id], node)  # a model used as a layer: decoder(encoder(x))
        if isinstance(node.func, ast.Attribute):
            owner = self.objects.get(ast.unparse(node.func.value))
            if isinstance(owner, Model):
                return self.method(owner, node.func.attr, node)
            if owner is not None and owner is self.found.augmentation and node.func.attr == "flow":
                size = arguments(node, ["x", "y", "batch_size"]).get("batch_size")
                return {"_flow": True, "batch_size": self.names.value(size) if size is not None else 32}
        what = self.names.keras(node.func)
        if what is None:
            return None
        kind, name = what
        return self.keras_call(node, kind, name)

    def call(self, function: ast.FunctionDef, node: ast.Call) -> Any:
        """A function of the script, its parameters bound to the call's arguments (or their defaults)."""
        params = [*function.args.posonlyargs, *function.args.args]
        defaults = dict(zip([a.arg for a in params][len(params) - len(function.args.defaults):],
                            function.args.defaults, strict=True))
        defaults.update({a.arg: d for a, d in zip(function.args.kwonlyargs, function.args.kw_defaults, strict=True)
                         if d is not None})
        given = dict(zip([a.arg for a in params], node.args, strict=False))
        given.update({k.arg: k.value for k in node.keywords if k.arg})
        saved = dict(self.names.consts), dict(self.objects)
        consts, objects = {}, {}  # every argument read before any parameter shadows a name: f(input_shape)
        for name in [a.arg for a in params] + [a.arg for a in function.args.kwonlyargs]:
            arg = given.get(name, defaults.get(name))
            if arg is None:
                continue
            try:
                consts[name] = self.names.value(arg)
            except Unknown:
                objects[name] = self.expr(arg)
        for name in [a.arg for a in params] + [a.arg for a in function.args.kwonlyargs]:
            self.names.consts.pop(name, None)
            self.objects.pop(name, None)
        self.names.consts.update(consts)
        self.objects.update(objects)
        try:
            return self.body(function.body)
        finally:
            self.names.consts, self.objects = saved

    def inline(self, model: Model, node: ast.Call) -> Tensor | None:
        """A model called on a tensor: its layers applied to it, as Keras does."""
        (parent,) = self.tensors(node.args[0] if node.args else None)[:1] or [None]
        if parent is None:
            return None
        if model.outputs is None:  # Sequential
            t = parent
            for entry in model.layers:
                t = Tensor("layer", entry, [t])
            return t
        if len(model.inputs or []) != 1 or len(model.outputs) != 1:
            raise Unknown(f"{ast.unparse(node)}", "calls a model of several inputs or outputs as a layer")
        copies: dict[int, Tensor] = {id(model.inputs[0]): parent}

        def copy(t: Tensor) -> Tensor:
            if id(t) not in copies:
                if t.kind == "input":
                    raise Unknown(ast.unparse(node), "calls a model whose output depends on another input")
                copies[id(t)] = Tensor(t.kind, t.layer, [copy(p) for p in t.parents])
            return copies[id(t)]

        return copy(model.outputs[0])

    def elements(self, node: ast.AST) -> list[tuple[Any, ast.AST]]:
        """A Sequential's list, evaluated: a literal list, a list built earlier, or several added up."""
        if isinstance(node, (ast.List, ast.Tuple)):
            return [(self.expr(e), e) for e in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.elements(node.left) + self.elements(node.right)
        if isinstance(node, ast.Name) and isinstance(self.objects.get(node.id), list):
            return [(v, node) for v in self.objects[node.id]]
        raise Unknown(ast.unparse(node), "is a list of layers known only at run time")

    def keras_call(self, node: ast.Call, kind: str, name: str) -> Any:
        found = self.found
        if kind == "models" and name == "Sequential":
            model = Model(line=node.lineno)
            layers = arguments(node, ["layers"]).get("layers")
            for entry, where in self.elements(layers) if layers is not None else []:
                self.add_value(model, entry, where)
            return model
        if kind == "models" and name == "Model":
            args = arguments(node, ["inputs", "outputs"])
            return Model(inputs=self.tensors(args.get("inputs")), outputs=self.tensors(args.get("outputs")),
                         line=node.lineno)
        if kind == "layers" and name == "Input":
            args = kwargs(self.names, node, ["shape", "batch_size", "dtype", "sparse", "batch_shape", "name"])
            shape = args.get("shape") or (args.get("batch_shape") or [None])[1:]
            fixed(shape, ast.unparse(node))
            return Tensor("input", list(shape), name=args.get("name"))
        if kind == "layers" and name in keras_args.MERGES:  # concatenate([a, b]): the function
            return Tensor("merge", keras_args.MERGES[name], self.tensors(node.args[0] if node.args else None))
        if kind == "layers" and name in keras_args.MERGES.values():  # Concatenate()([a, b]): the class
            args = kwargs(self.names, node, keras_args.signature(kind, name))
            if args.get("axis", -1) != -1:
                raise Unknown(ast.unparse(node), "merges on an axis other than the last; the graph form's "
                                                 "merges join the last axis")
            return {"_merge": name}
        if kind == "models" and name == "load_model":
            self.refuse(node, "load_model: the model is read from a file when the script runs; convert that saved "
                              "model instead (nnctl convert MODEL.keras)")
            return None
        if kind == "wrappers":  # keras.wrappers.scikit_learn.KerasClassifier(build_fn, ...)
            self.refuse(node, f"{name}: the model is built by a function scikit-learn calls at run time; call the "
                              "function in the script (model = make_model()) to convert its model")
            return None
        if kind in ("layers", "applications"):
            if kind == "applications":
                self.found.first_layer = self.found.first_layer or node.lineno
            return self.layer(node, kind, name)
        if kind == "optimizers":
            return keras_args.optimizer(name, kwargs(self.names, node, keras_args.signature("optimizers", name)))
        if kind == "preprocessing" and name == "ImageDataGenerator":
            given = kwargs(self.names, node, None)
            found.augmentation = {k: v for k, v in given.items() if IMAGE_DATA_DEFAULTS.get(k, object()) != v}
            return found.augmentation
        if kind == "callbacks":
            return keras_args.callback(name, kwargs(self.names, node, keras_args.signature("callbacks", name)))
        if kind == "utils" and name == "to_categorical":
            found.onehot = True
            return None
        if kind == "datasets":
            found.dataset = name
            args = arguments(node, [])
            if "num_words" in args:  # imdb.load_data(num_words=max_features)
                found.data["num_words"] = self.names.value(args["num_words"])
            return None
        if kind == "preprocessing" and name == "pad_sequences":
            maxlen = arguments(node, ["sequences"]).get("maxlen")
            if maxlen is not None:
                found.data["sequence_length"] = self.names.value(maxlen)
            return None
        return None

    def layer(self, node: ast.Call, kind: str, name: str) -> Any:
        if name == "Lambda":
            self.refuse(node, "Lambda: a layer that runs code has no config form (nnctl refuses code in configs)")
            return None
        try:
            args = kwargs(self.names, node, keras_args.signature(kind, name), self.argument_value)
            fixed(args.get("input_shape") or (args.get("batch_input_shape") or [None])[1:], f"{name}(...)")
            if name == "GRU" and self.keras2 and "reset_after" not in args:
                args["reset_after"] = False  # Keras 2's own default (tf.keras and Keras 3: True)
                self.note(node, "GRU: reset_after: false, Keras 2's default for this Keras 2 script (Keras 3's "
                                "is true, 3 x units more biases)")
            entry = keras_args.layer(kind, name, args)
        except Unknown as e:
            self.refuse(node, f"{name}(...): {e.describe()}")
            return None
        if entry is None:
            self.refuse(node, f"{name}: not a layer this Keras has")
        return entry

    def argument_value(self, node: ast.AST) -> Any:
        """A layer's argument: a literal, a layer (a wrapper's `layer`), or an initializer, regularizer or
        constraint object, as the config writes them."""
        try:
            return self.names.value(node)
        except Unknown:
            if isinstance(node, ast.Name) and is_layer(self.objects.get(node.id)):
                return self.objects[node.id]
            what = self.names.keras(node.func) if isinstance(node, ast.Call) else None
            if what and what[0] == "layers":
                entry = keras_args.layer(*what, kwargs(self.names, node, keras_args.signature(*what),
                                                       self.argument_value))
                if entry is not None:
                    return entry
            if what and what[0] in ("initializers", "regularizers", "constraints"):
                args = kwargs(self.names, node, keras_args.signature(*what), self.argument_value)
                return {"name": what[1], **args}
            raise

    def add(self, model: Model, node: ast.AST) -> None:
        self.add_value(model, self.expr(node), node)

    def add_value(self, model: Model, entry: Any, node: ast.AST) -> None:
        if isinstance(entry, Tensor) and entry.kind == "input":  # Sequential([Input(shape=...), ...])
            model.input_shape = entry.layer
        elif isinstance(entry, Model):  # a model used as a layer
            if entry.outputs is not None:
                raise Unknown(ast.unparse(node), "is a functional model added to a Sequential")
            model.layers.extend(entry.layers)
            model.input_shape = model.input_shape or entry.input_shape
        elif is_layer(entry):
            model.layers.append(entry)
        elif not any(line == getattr(node, "lineno", 0) for line, _ in self.found.refusals):
            self.refuse(node, f"{ast.unparse(node)}: not a layer a config can name")

    def apply(self, node: ast.Call, layer: Any, arg: ast.AST | None) -> Tensor | None:
        if layer is None:
            return None
        parents = self.tensors(arg)
        if isinstance(layer, dict) and "_merge" in layer:
            return Tensor("merge", layer["_merge"], parents)
        return Tensor("layer", layer, parents)

    def tensors(self, node: ast.AST | None) -> list[Tensor]:
        if node is None:
            return []
        items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
        out = []
        for item in items:
            t = self.expr(item)
            if not isinstance(t, Tensor):
                raise Unknown(ast.unparse(item), "is not a tensor of a layer a config can name")
            out.append(t)
        return out

    def method(self, model: Model, name: str, node: ast.Call) -> Any:
        found = self.found
        if name == "add":
            if node.args:
                self.add(model, node.args[0])
            return None
        found.model = model
        if name == "compile":
            found.compile = {k: self.argument(v) for k, v in arguments(node, ["optimizer", "loss", "metrics"]).items()}
        elif name in ("fit", "fit_generator"):
            args = arguments(node, ["x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split",
                                     "validation_data", "shuffle"])
            generator = self.expr(args["x"]) if "x" in args else None
            if isinstance(generator, dict) and generator.get("_flow"):
                found.fit["batch_size"] = generator.get("batch_size", 32)
            for key in ("batch_size", "epochs", "nb_epoch", "shuffle", "validation_split"):
                if key in args:
                    found.fit[key] = self.names.value(args[key])
            if "validation_data" in args:
                self.note(node, "validation_data: the script's own validation arrays; nnctl validates on "
                                "data.validation_split of the training data (or set data.validation to a file)",
                          warn=False)
            given = args.get("callbacks")
            listed = given.elts if isinstance(given, ast.List) else []
            if isinstance(given, ast.Name) and isinstance(self.objects.get(given.id), list):
                listed = [ast.Name(id=f"{given.id}[{i}]", lineno=given.lineno)
                          for i in range(len(self.objects[given.id]))]
                for i, value in enumerate(self.objects[given.id]):
                    self.objects[f"{given.id}[{i}]"] = value
            for cb in listed:
                value = self.expr(cb)
                if isinstance(value, dict) and "early_stopping" in value:
                    found.early_stopping = value["early_stopping"]
                elif isinstance(value, dict) and "note" in value:
                    self.note(cb, f"callback {value['note']}", warn=value["warn"])
                else:
                    self.note(cb, f"callback {ast.unparse(cb)}: not a Keras callback nnctl knows; not converted")
        return None

    def argument(self, node: ast.AST) -> Any:
        """A compile argument: a literal, a Keras name, or an object built earlier (an optimizer)."""
        value = self.expr(node)
        if value is not None:
            return value
        try:
            return self.names.value(node)
        except Unknown:
            if isinstance(node, (ast.List, ast.Tuple)):  # metrics=[keras.metrics.AUC(), "accuracy"]
                return [self.argument(e) for e in node.elts]
            what = self.names.keras(node.func) if isinstance(node, ast.Call) else None
            if what and what[0] == "metrics":  # a metric object: its class name (its `name` only labels logs)
                return what[1]
            if what:  # keras.losses.CategoricalCrossentropy(from_logits=True): its name and arguments
                args = kwargs(self.names, node, None)
                return {"name": what[1], **args} if args else what[1]
            raise
