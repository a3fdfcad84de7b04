"""Turn a training checkpoint into the shipped release files.

    python scripts/export_release.py runs/z2-synth.pt

writes ``models/z2-mnv2.pt`` (float16 storage of the float model, no optimiser state: small enough for the
repo) and then quantises *that* file into the packaged ``pynq_depth/data/z2-mnv2-int8.npz`` with the
built-in calibration set, so the float reference and the int8 model are made from the same numbers.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("checkpoint")
parser.add_argument("--float-out", default=str(ROOT / "models" / "z2-mnv2.pt"))
parser.add_argument("--int8-out", default=str(ROOT / "pynq_depth" / "data" / "z2-mnv2-int8.npz"))
args = parser.parse_args()

blob = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
state = {k: (v.half() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()}
keep = {k: blob[k] for k in ("spec", "step", "train_config") if k in blob}
out = Path(args.float_out)
out.parent.mkdir(parents=True, exist_ok=True)
torch.save({"state_dict": state, **keep, "source": Path(args.checkpoint).name}, str(out))
print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, step {keep.get('step')})")
subprocess.run([sys.executable, "-m", "pynq_depth.cli", "quantize", str(out), "-o", args.int8_out], check=True)
