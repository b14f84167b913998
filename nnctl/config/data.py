"""`data:` of a config: where the examples come from and how a table's columns are read.

Nothing here imports TensorFlow or pandas.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from nnctl.config.graph import InputSpec, TargetSpec

# What fills a column's gaps (data.missing): a statistic of the training split, a constant, or
# drop the row / refuse the file. "constant VALUE" is one string; {constant: VALUE} also reads.
STRATEGIES = ("mean", "median", "most_frequent", "constant VALUE", "drop", "error")
NUMBER_DEFAULT = "median"  # measured against mean on real tables: benchmarks/README.md, "Missing values"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def strategy(value: Any) -> tuple[str, Any]:
    """("mean" | "median" | "most_frequent" | "drop" | "error", None) or ("constant", VALUE)."""
    if isinstance(value, dict) and list(value) == ["constant"]:
        return "constant", value["constant"]
    if isinstance(value, str):
        word, _, rest = value.strip().partition(" ")
        if word == "constant" and rest.strip():
            return "constant", rest.strip()
        if word in STRATEGIES and not rest:
            return word, None
    raise ValueError(f"bad value {value!r}: use one of {', '.join(STRATEGIES)}")


# What `nnctl convert` writes where a script's data is not a keras.datasets loader.
PLACEHOLDER = "<DATA: give --data SOURCE to nnctl convert, or set data.source>"


class DataSpec(_Strict):
    source: str = Field(min_length=1)
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)
    validation: str | None = None
    test_split: float = Field(0.2, ge=0.0, lt=1.0)
    test: str | None = None
    path: str | None = None  # where a built-in dataset's local copy lies
    # Files: the label column(s) of a table, or the labels .npy beside an inputs .npy.
    target: str | list[str] | None = None
    labels: str | None = None
    features: list[str] | None = None  # table columns to use as inputs [default: all but target and ID-like]
    text: str | None = None  # a table's column of raw text for a TextVectorization stack
    # Tables as they come: the delimiter (sniffed when left out), more spellings of "missing",
    # what fills each column's gaps, and the standardisation of numeric inputs inside the model.
    sep: str | None = Field(None, min_length=1, max_length=4)
    na_values: list[str] = Field(default_factory=list)
    missing: str | dict[str, Any] | dict[str, str | dict[str, Any]] | None = None
    standardize: bool = True
    sheet: str | int = 0  # an .xlsx file's sheet, by name or index
    # Sequences: windows over a time series (with target), or padded token lists (imdb, reuters).
    sequence_length: int | None = Field(None, ge=1, le=1_000_000)
    horizon: int = Field(1, ge=1)
    # Multi-step forecasting: the next H values (horizon ... horizon + H - 1) as one output [H] ([H, k]).
    output_steps: int | None = Field(None, ge=1, le=100_000)
    num_words: int = Field(10_000, ge=2)
    # A folder of images in class sub-folders.
    image_size: list[int] | None = Field(None, min_length=2, max_length=2)
    color_mode: Literal["grayscale", "rgb", "rgba"] = "rgb"
    # Stream from disk instead of loading (auto: files larger than stream_threshold_mb).
    stream: bool | Literal["auto"] = "auto"
    stream_threshold_mb: float = Field(1024, gt=0)
    # The inputs are also the targets: autoencoders (an n-D matrix output).
    reconstruct: bool = False
    # Cross-validation: K fold runs in one run folder (training/folds.py); fold i validates fold run i.
    folds: int | None = Field(None, ge=2, le=1000)
    fold: int | None = Field(None, ge=1, le=1000)
    # Keep this share of every split (seeded, stratified): a quick run of a big config end to end.
    fraction: float = Field(1.0, gt=0.0, le=1.0)
    # The graph form (config/graph.py): named model inputs and outputs, each from columns or arrays.
    # In the stack form `inputs` gives a table's columns their types ({COLUMN: {type: category}}).
    inputs: dict[str, InputSpec] | None = Field(None, min_length=1)
    targets: dict[str, TargetSpec] | None = Field(None, min_length=1)

    @field_validator("source")
    @classmethod
    def _given(cls, v: str) -> str:
        if v == PLACEHOLDER:
            raise ValueError("the converted script's data is not known yet: set data.source to a file, a folder or "
                             "a built-in name, e.g. --set data.source=mnist")
        return v

    @field_validator("missing")
    @classmethod
    def _strategies(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, dict) and list(v) != ["constant"]:
            for column, s in v.items():
                try:
                    strategy(s)
                except ValueError as e:
                    raise ValueError(f"{column}: {e}") from None
            return v
        strategy(v)
        return v

    @field_serializer("inputs")
    def _compact(self, v: dict[str, InputSpec] | None) -> dict[str, Any] | None:
        # Only what differs from the defaults: a resolved table's `age: {}` (a number), `sex: {type: category}`.
        return None if v is None else {k: i.model_dump(mode="json", exclude_defaults=True) for k, i in v.items()}

    def missing_for(self, column: str) -> tuple[str, Any] | None:
        """This column's strategy as data.missing gives it (per column, else for all); None: the default."""
        v = self.missing
        if v is None:
            return None
        if isinstance(v, dict) and list(v) != ["constant"]:
            return strategy(v[column]) if column in v else None
        return strategy(v)
