"""Reading a Keras script's expressions without running it: literal values (module constants
resolved), and what a dotted name refers to once the script's imports are applied
(`tf.keras.layers.Dense`, `from keras.layers.core import Dense`, `layers.Dense` -> keras.layers.Dense).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

# Keras' submodules that hold what a config names, however deep the import spelled them.
KINDS = ("layers", "optimizers", "applications", "callbacks", "datasets", "utils", "preprocessing", "models",
         "losses", "metrics", "activations", "regularizers", "initializers", "wrappers")
TOP_LEVEL = {"Sequential": "models", "Model": "models", "Input": "layers", "to_categorical": "utils"}
# keras.datasets: the training and test arrays' shapes (None: each sequence's own length), and the
# number of classes of their labels.
DATASET_SHAPES = {"mnist": ([60000, 28, 28], 10000), "fashion_mnist": ([60000, 28, 28], 10000),
                  "cifar10": ([50000, 32, 32, 3], 10000), "cifar100": ([50000, 32, 32, 3], 10000),
                  "boston_housing": ([404, 13], 102), "california_housing": ([16512, 8], 4128),
                  "imdb": ([25000, None], 25000), "reuters": ([8982, None], 2246)}
DATASET_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "imdb": 2, "reuters": 46}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.Lt: operator.lt, ast.Gt: operator.gt, ast.LtE: operator.le, ast.GtE: operator.ge}
_BUILTINS = {"int": int, "float": float, "round": round, "abs": abs, "min": min, "max": max, "tuple": tuple,
             "list": list}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.Mod: operator.mod}


class Unknown(Exception):
    """An expression whose value the script computes at run time (from data, a function, a loop)."""

    def __init__(self, what: str, why: str = "is known only when the script runs") -> None:
        super().__init__(what)
        self.what, self.why = what, why
        self.line: int | None = None  # the statement's, once known

    def describe(self) -> str:
        return f"{self.what} {self.why}"


class Names:
    """The script's imports and constants, in the order its statements set them."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> dotted module or object path
        self.consts: dict[str, Any] = {}
        self.shapes: dict[str, list[int | None]] = {}  # arrays of a keras.datasets set: x_train.shape[1:] is known
        self.classes: dict[str, int] = {}  # label arrays of a keras.datasets set -> their number of classes

    def imported(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif node.module:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def dotted(self, node: ast.AST) -> str | None:
        """`tf.keras.layers.Dense` with the imports applied; None for anything but a (dotted) name."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        head = self.aliases.get(node.id, node.id)
        return ".".join([head, *reversed(parts)])

    def keras(self, node: ast.AST) -> tuple[str, str] | None:
        """(kind, name) of a Keras object: ("layers", "Dense"), ("optimizers", "SGD"), ("datasets", "mnist"); None
        for what is not Keras."""
        path = self.dotted(node)
        if path is None:
            return None
        parts = path.split(".")
        if parts[0] == "tensorflow" and len(parts) > 1 and parts[1] == "keras":
            parts = parts[1:]
        if parts[0] != "keras" or len(parts) < 2:
            return None
        if len(parts) == 2:
            return (TOP_LEVEL.get(parts[1], "keras"), parts[1])
        kind = next((p for p in parts[1:-1] if p in KINDS), None)
        if kind == "datasets":  # keras.datasets.mnist.load_data: the dataset is the module
            return ("datasets", parts[parts.index("datasets") + 1])
        if kind is None:
            return None
        return (kind, parts[-1])

    def value(self, node: ast.AST) -> Any:
        """A literal value, with module constants resolved and tuples as lists (YAML has no tuples)."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.consts:
                return self.consts[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            raise Unknown(node.id)
        if isinstance(node, (ast.Tuple, ast.List)):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.value(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return _COMPARE[type(node.ops[0])](self.value(node.left), self.value(node.comparators[0]))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.value(node.operand)
            if isinstance(v, (int, float)):
                return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BoolOp):  # stack > 0 and res_block == 0
            values = [self.value(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BUILTINS \
                and node.func.id not in self.consts and not node.keywords:  # int((depth - 2) / 6)
            result = _BUILTINS[node.func.id](*[self.value(a) for a in node.args])
            return list(result) if isinstance(result, tuple) else result
        if isinstance(node, ast.IfExp):  # units = 1 if num_classes == 2 else num_classes
            return self.value(node.body) if self.value(node.test) else self.value(node.orelse)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            a, b = self.value(node.left), self.value(node.right)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                return _BINARY[type(node.op)](a, b)
            if isinstance(a, list) and isinstance(b, list) and isinstance(node.op, ast.Add):
                return a + b  # input_shape = img_shape + (1,)
        if isinstance(node, ast.Attribute) and node.attr == "shape" and isinstance(node.value, ast.Name) \
                and node.value.id in self.shapes:
            return list(self.shapes[node.value.id])
        if isinstance(node, ast.Subscript):  # shape[1:], sizes[0]
            base = self.value(node.value)
            if isinstance(base, list):
                index = node.slice
                if isinstance(index, ast.Slice):
                    bounds = [self.value(b) if b is not None else None for b in (index.lower, index.upper, index.step)]
                    return base[slice(*bounds)]
                return base[self.value(index)]
        if isinstance(node, ast.Call):
            known = self._known_call(node)
            if known is not None:
                return known
        if isinstance(node, (ast.Attribute, ast.Name)) or isinstance(node, ast.Call):
            named = self.named(node)
            if named is not None:
                return named
        raise Unknown(ast.unparse(node))

    def _known_call(self, node: ast.Call) -> int | None:
        """What a built-in data set fixes: `len(x_train)`, `len(chars)` of a constant, `np.max(y_train) + 1`'s
        max, `len(np.unique(y_train))`; None for any other call."""
        func = self.dotted(node.func) or ""
        target = node.args[0] if len(node.args) == 1 else None
        if isinstance(node.func, ast.Attribute) and not node.args and node.func.attr == "max":
            target, func = node.func.value, "max"  # y_train.max()
        name = target.id if isinstance(target, ast.Name) else None
        if func.split(".")[-1] in ("max", "amax") and name in self.classes:
            return self.classes[name] - 1
        if func == "len" and target is not None:
            if name in self.shapes:
                return self.shapes[name][0]
            inner = target.func if isinstance(target, ast.Call) else None
            if inner is not None and (self.dotted(inner) or "").endswith("unique") and len(target.args) == 1 \
                    and isinstance(target.args[0], ast.Name) and target.args[0].id in self.classes:
                return self.classes[target.args[0].id]
            value = self.value(target)
            if isinstance(value, (list, str, dict)):
                return len(value)
        return None

    def named(self, node: ast.AST) -> str | None:
        """A Keras function or class given by name (`tf.nn.relu`, `keras.activations.relu`,
        `keras.losses.categorical_crossentropy`) as the string a config takes."""
        path = self.dotted(node)
        if path is None:
            return None
        parts = path.split(".")
        if parts[0] in ("tensorflow", "keras") and any(p in ("nn", "activations", "losses", "metrics") for p in parts):
            return parts[-1]
        return None

    def dataset_shapes(self, target: ast.Tuple, dataset: str | None) -> None:
        """(x_train, y_train), (x_test, y_test) = NAME.load_data(): the arrays' shapes, the labels' classes."""
        known = DATASET_SHAPES.get(dataset or "")
        pairs = [e for e in target.elts if isinstance(e, ast.Tuple) and len(e.elts) == 2]
        if known is None or len(pairs) != 2:
            return
        shape, tests = known
        for (x, y), n in zip((p.elts for p in pairs), (shape[0], tests), strict=True):
            if isinstance(x, ast.Name):
                self.shapes[x.id] = [n, *shape[1:]]
            if isinstance(y, ast.Name) and dataset in DATASET_CLASSES:
                self.classes[y.id] = DATASET_CLASSES[dataset]
                self.shapes[y.id] = [n]

    def reshaped(self, name: str, value: ast.AST) -> None:
        """x = x.reshape(...), x.astype(...), np.expand_dims(x, -1): the array's new shape, where known."""
        if not isinstance(value, ast.Call):
            self.shapes.pop(name, None)
            return
        func = value.func
        source = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
        try:
            if source in self.shapes and func.attr == "reshape":
                given = [self.value(a) for a in value.args]
                shape = [int(v) for v in (given[0] if len(given) == 1 and isinstance(given[0], list) else given)]
                before = self.shapes[source]
                if shape.count(-1) == 1 and None not in before:  # reshape(n, -1, 1): the one the others leave
                    rest = math.prod(v for v in shape if v != -1)
                    shape[shape.index(-1)] = math.prod(before) // rest if rest else -1
                if -1 not in shape:
                    self.shapes[name] = shape
                    return
            elif source in self.shapes and func.attr == "astype":
                self.shapes[name] = self.shapes[source]
                return
            elif (self.dotted(func) or "").endswith("pad_sequences") and value.args \
                    and isinstance(value.args[0], ast.Name) and value.args[0].id in self.shapes:
                maxlen = next((k.value for k in value.keywords if k.arg == "maxlen"), None)
                if maxlen is not None:
                    self.shapes[name] = [self.shapes[value.args[0].id][0], int(self.value(maxlen))]
                    return
            elif (self.dotted(func) or "").endswith("to_categorical") and value.args \
                    and isinstance(value.args[0], ast.Name) and value.args[0].id in self.classes:
                given = value.args[1] if len(value.args) > 1 else next(
                    (k.value for k in value.keywords if k.arg == "num_classes"), None)
                n = int(self.value(given)) if given is not None else self.classes[value.args[0].id]
                self.shapes[name] = [self.shapes[value.args[0].id][0], n]
                self.classes.pop(name, None)  # one-hot now: its max is 1
                return
            elif isinstance(func, ast.Attribute) and func.attr == "expand_dims" and len(value.args) == 2 \
                    and isinstance(value.args[0], ast.Name) and value.args[0].id in self.shapes:
                shape = list(self.shapes[value.args[0].id])
                axis = int(self.value(value.args[1]))
                shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, 1)
                self.shapes[name] = shape
                return
        except (Unknown, TypeError, ValueError):
            pass
        kept = (self.dotted(func) or "").split(".")[-1] in ("array", "asarray") and value.args \
            and isinstance(value.args[0], ast.Name) and value.args[0].id == name  # y = np.array(y): the same labels
        if name in self.shapes and source != name and not kept:
            self.shapes.pop(name, None)
        if name in self.classes and source != name and not kept:
            self.classes.pop(name, None)


def kwargs(names: Names, call: ast.Call, signature: list[str] | None,
           value: Callable[[ast.AST], Any] | None = None) -> dict[str, Any]:
    """A call's arguments by name: positional ones named through the callee's signature; `value` reads
    each (default: a literal)."""
    value = value or names.value
    out: dict[str, Any] = {}
    if call.args:
        if signature is None or len(call.args) > len(signature):
            raise Unknown(f"positional arguments of {ast.unparse(call.func)}")
        for name, arg in zip(signature, call.args, strict=False):
            out[name] = value(arg)
    for kw in call.keywords:
        if kw.arg is None:
            raise Unknown(f"**{ast.unparse(kw.value)}")
        out[kw.arg] = value(kw.value)
    return out
