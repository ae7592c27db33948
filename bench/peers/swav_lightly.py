#!/usr/bin/env python3
"""The SwAV training step written with lightly (lightly.loss.SwaVLoss, SwaVProjectionHead,
SwaVPrototypes): the library peer that `swavbench bench --peers` times ours against.

The trunk is the eager peer's (swav_eager.py: torchvision's ResNet, or the same architecture
with a width multiplier and the small-image stem); lightly provides the projection head
(Linear-BN-ReLU-Linear), the prototypes and the loss with its Sinkhorn-Knopp. The forward is the
authors' multi-crop one, as ours: the trunk once per run of equal-size crops, the head once
over all crops, L2-normalised embeddings into the prototypes; the two large crops are lightly's
"high resolution" crops (the codes), the rest its "low resolution" ones. The prototypes are
normalised before every step (lightly's SwaVPrototypes.normalize()), SGD momentum 0.9.

Differences from the authors' (and ours), stated in the JSON: lightly's prototypes are an
nn.Linear with a bias (the authors' have none; the loss check zeroes it), and its head's first
Linear has no bias (the authors' has one, which the BatchNorm after it cancels in training);
no queue; plain SGD.
What the timed loop includes: the step only, on crops made once (no decode, augmentation or
loader), like swav_eager.py.

    swav_lightly.py --arch resnet10 --width 0.25 --small-stem --in-channels 1 --batch 256 \\
        --crops 2x28,4x14 --hidden 256 --feat-dim 64 --prototypes 100 --json out.json
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swav_eager  # noqa: E402  (the trunk, the argument list and the crop parser)

from lightly.loss import SwaVLoss  # noqa: E402
from lightly.models.modules import SwaVProjectionHead, SwaVPrototypes  # noqa: E402


class LightlySwav(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.trunk, dim, self.trunk_source = swav_eager.make_trunk(
            args.arch, args.width, args.small_stem, args.in_channels)
        self.projection_head = SwaVProjectionHead(dim, args.hidden, args.feat_dim)
        self.prototypes = SwaVPrototypes(args.feat_dim, args.prototypes)

    def forward(self, crops):
        sizes = [c.shape[-1] for c in crops]
        feats, start = [], 0
        for end in range(1, len(crops) + 1):
            if end == len(crops) or sizes[end] != sizes[start]:
                feats.append(self.trunk(torch.cat(crops[start:end])))
                start = end
        z = F.normalize(self.projection_head(torch.cat(feats)), dim=1, p=2)
        return self.prototypes(z).chunk(len(crops))


def loss_of(model, criterion, crops, high):
    scores = model(crops)
    return criterion(list(scores[:high]), list(scores[high:]))


def lightly_version():
    import lightly
    return lightly.__version__


def check_loss(args):
    """Our weights (export --format full) and batch, lightly's modules: prints {"loss": ...}."""
    state, crops = swav_eager.load_check_inputs(args, "projection_head.layers.")
    state["prototypes.heads.0.weight"] = state.pop("prototypes.weight")
    state["prototypes.heads.0.bias"] = torch.zeros(args.prototypes)  # the authors' have none
    # lightly's head has no bias before its BatchNorm (the authors' and ours has one); in train
    # mode BN subtracts the batch mean, so that bias cancels and the loss is the same without it.
    state.pop("projection_head.layers.0.bias", None)
    model = LightlySwav(args)
    if not swav_eager.load_strictly(model, state):
        return 1
    model.train()
    criterion = SwaVLoss(args.temperature, args.iterations, args.epsilon)
    with torch.no_grad():
        loss = loss_of(model, criterion, crops, 2)
    print(json.dumps({"loss": float(loss), "torch": torch.__version__,
                      "lightly": lightly_version(), "trunk": model.trunk_source}))
    return 0


def main(argv=None):
    args = swav_eager.parse_args(argv)
    if args.check_loss:
        return check_loss(args)
    if args.device != "cpu":
        raise SystemExit("swav_lightly.py: the lightly peer is timed on the CPU only")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sizes = swav_eager.parse_crops(args.crops)
    model = LightlySwav(args)
    criterion = SwaVLoss(args.temperature, args.iterations, args.epsilon)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                                weight_decay=args.weight_decay)
    crops = [torch.randn(args.batch, args.in_channels, s, s) for s in sizes]

    def step():
        model.prototypes.normalize()
        loss = loss_of(model, criterion, crops, 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    losses = [float(step()) for _ in range(args.warmup)]
    start = time.perf_counter()
    timed = [step() for _ in range(args.steps)]
    seconds = time.perf_counter() - start
    losses += [float(v) for v in timed]
    result = {
        "peer": "lightly", "lightly": lightly_version(), "torch": torch.__version__,
        "trunk": model.trunk_source, "device": "cpu", "threads": torch.get_num_threads(),
        "arch": args.arch, "width": args.width, "small_stem": args.small_stem,
        "in_channels": args.in_channels, "batch": args.batch, "crops": args.crops,
        "prototypes": args.prototypes, "warmup_steps": args.warmup, "timed_steps": args.steps,
        "step_ms": 1000.0 * seconds / max(1, args.steps),
        "img_per_s": args.batch * args.steps / seconds if seconds > 0 else None,
        "losses": losses,
        "includes": "step only: forward, lightly's Sinkhorn and SwaVLoss, backward, SGD; crops "
                    "made once (no decode, augmentation or loader)",
        "differs_from_authors": "prototypes with a bias and no bias before the head's BN "
                                "(lightly's modules); no queue; plain SGD instead of LARC; one "
                                "process",
    }
    return swav_eager.emit(result, losses, args.json)


if __name__ == "__main__":
    sys.exit(main())
