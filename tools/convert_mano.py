#!/usr/bin/env python3
"""Convert the official MANO pickles (MANO_RIGHT.pkl / MANO_LEFT.pkl) into plain .npz files handtwin reads.

MANO's licence forbids redistributing the model, so handtwin never ships it: download it yourself from
https://mano.is.tue.mpg.de (registration required), then

    pip install numpy scipy
    python tools/convert_mano.py --in /path/to/mano_v1_2/models --out ~/.local/share/handtwin/mano

which writes MANO_RIGHT.npz and MANO_LEFT.npz with MANO's own array names and shapes, dense and plain:
v_template (778,3), f (1538,3), shapedirs (778,3,10), posedirs (778,3,135), J_regressor (16,778) dense,
weights (778,16), kintree_table (2,16), hands_components (45,45), hands_mean (45,), all float64 / int64.
The pickles hold chumpy objects and a scipy sparse matrix; chumpy itself is not needed (its objects are read
as plain arrays here). Nothing is changed: the left model's known shape-direction sign issue is fixed by
handtwin when it loads both files, not here.
"""

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

ARRAYS = {
    "v_template": (778, 3),
    "f": (1538, 3),
    "shapedirs": (778, 3, 10),
    "posedirs": (778, 3, 135),
    "J_regressor": (16, 778),
    "weights": (778, 16),
    "kintree_table": (2, 16),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}


class _ChumpyStandIn:
    """Receives a pickled chumpy object's state; its array is the `x` entry (or `r`)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"x": state})


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _ChumpyStandIn
        return super().find_class(module, name)


def as_array(value, name, path):
    if isinstance(value, _ChumpyStandIn):
        for key in ("x", "r", "a"):
            if key in value.__dict__ and value.__dict__[key] is not None:
                value = value.__dict__[key]
                break
        else:
            sys.exit(f"{path}: `{name}` is a chumpy object without an array; is this an official MANO file?")
    if hasattr(value, "toarray"):  # scipy sparse (J_regressor)
        value = value.toarray()
    return np.asarray(value)


def convert(source: Path, target: Path):
    with open(source, "rb") as f:
        data = _Unpickler(f, encoding="latin1").load()
    if not isinstance(data, dict):
        sys.exit(f"{source}: not a MANO pickle (it holds a {type(data).__name__}, not a dict)")
    out = {}
    for name, shape in ARRAYS.items():
        if name not in data:
            sys.exit(f"{source}: array `{name}` is missing; is this MANO_RIGHT.pkl or MANO_LEFT.pkl?")
        array = as_array(data[name], name, source)
        if array.shape != shape:
            sys.exit(f"{source}: array `{name}` has shape {array.shape}, expected {shape}")
        if name in ("f", "kintree_table"):
            array = array.astype(np.int64)
        else:
            array = array.astype(np.float64)
            if not np.isfinite(array).all():
                sys.exit(f"{source}: array `{name}` holds values that are not finite")
        out[name] = array
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **out)
    print(f"{source} -> {target}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--in", dest="source", type=Path, required=True,
                        help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl, or one .pkl file")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder (or .npz file when --in is one file)")
    args = parser.parse_args()
    if args.source.is_file():
        target = args.out if args.out.suffix == ".npz" else args.out / (args.source.stem + ".npz")
        convert(args.source, target)
        return
    found = False
    for side in ("RIGHT", "LEFT"):
        source = args.source / f"MANO_{side}.pkl"
        if source.is_file():
            convert(source, args.out / f"MANO_{side}.npz")
            found = True
    if not found:
        sys.exit(f"{args.source}: no MANO_RIGHT.pkl or MANO_LEFT.pkl there")


if __name__ == "__main__":
    main()
