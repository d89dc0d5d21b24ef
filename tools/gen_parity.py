"""Make the world-model parity cases (see /work/shared/spec/parity-cases.md for the folder format).

    python tools/gen_parity.py --out tests/fixtures/parity [--only NAME ...]

Imports every `tools/parity_cases/*.py` and calls its `make_cases(out_root: pathlib.Path)`. Each module writes its
own case folders under out_root. Runs diffusers / transformers on the CPU in float32; never needed at run time.
"""

import argparse
import importlib.util
import pathlib
import sys

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder receiving the case folders")
    parser.add_argument("--only", nargs="*", default=None, help="module names to run (default: all)")
    args = parser.parse_args()

    torch.set_num_threads(max(1, torch.get_num_threads()))
    args.out.mkdir(parents=True, exist_ok=True)
    cases_dir = pathlib.Path(__file__).resolve().parent / "parity_cases"
    # Case modules share helpers in parity_cases/_common.py.
    sys.path.insert(0, str(cases_dir))
    modules = sorted(p for p in cases_dir.glob("*.py") if not p.name.startswith("_"))
    for path in modules:
        if args.only and path.stem not in args.only:
            continue
        spec = importlib.util.spec_from_file_location(f"parity_cases.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "make_cases"):
            print(f"{path}: no make_cases(out_root), skipped", file=sys.stderr)
            continue
        print(f"== {path.name}")
        module.make_cases(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
