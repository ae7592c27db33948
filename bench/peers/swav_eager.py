#!/usr/bin/env python3
"""The SwAV training step written as plain PyTorch eager: the "official-style" peer that
swavbench's own step is timed against (scripts/device/gpu-check.sh on a GPU, the peer test on
the CPU).

What it computes is what the authors' main_swav.py computes per iteration (Caron et al. 2020):
the trunk run once per group of equal-size crops, the projection head once over the
concatenation of every crop's trunk output, L2-normalised embeddings, prototype scores,
Sinkhorn-Knopp codes for the assigning crops (epsilon 0.05, 3 iterations, in float32), the
swapped-prediction cross-entropy at temperature 0.1, prototypes re-normalised before the step,
SGD with momentum 0.9 and weight decay 1e-6. Under CUDA: bf16 autocast and channels_last, as
swavbench's GPU path. Differences from the authors' script, stated in the JSON it writes: no
apex LARC wrapper (plain SGD; LARC adds one norm pass per layer), no queue, one process.

What the timed loop includes: the step only (forward, Sinkhorn, loss, backward, optimiser) on
one batch of crops made once on the device, the way a data-loader-free step benchmark measures.

The trunk is torchvision's ResNet when torchvision is importable, else the same architecture
defined below (torchvision's layer names and shapes: conv1 7x7/2, maxpool, bottleneck stages
[3, 4, 6, 3] for ResNet-50, stride on the 3x3 conv).

    swav_eager.py --device cuda --arch resnet50 --batch 64 --crops 2x224,6x96 --json out.json
    swav_eager.py --device cpu --arch resnet18 --batch 4 --crops 2x64,2x32 --prototypes 30 \\
        --steps 2 --warmup 1 --json out.json          (the CPU test's tiny sizes)
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- Trunk -------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetTrunk(nn.Module):
    """torchvision's ResNet without its fc layer: returns the pooled features. `width` scales
    every stage (int(64 * width) channels first, as the authors' resnet50w2 and swavbench);
    `small_stem` is the small-image stem (3x3 stride-1 conv1, no max-pool)."""

    def __init__(self, block, layers, width=1.0, small_stem=False, in_channels=3):
        super().__init__()
        base = int(64 * width)
        self.inplanes = base
        if small_stem:
            self.conv1 = nn.Conv2d(in_channels, base, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_stem else nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base, layers[0])
        self.layer2 = self._make_layer(block, base * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = base * 8 * block.expansion

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


ARCHS = {"resnet10": (BasicBlock, [1, 1, 1, 1]), "resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
         "resnet50": (Bottleneck, [3, 4, 6, 3])}


def make_trunk(arch, width=1.0, small_stem=False, in_channels=3):
    """torchvision's model when it has this trunk (fc replaced by identity), else ours."""
    block, layers = ARCHS[arch]
    if width == 1.0 and not small_stem and in_channels == 3 and arch != "resnet10":
        try:
            import torchvision  # noqa: F401
            model = getattr(torchvision.models, arch)()
            dim = model.fc.in_features
            model.fc = nn.Identity()
            return model, dim, "torchvision " + torchvision.__version__
        except ImportError:
            pass
    model = ResNetTrunk(block, layers, width, small_stem, in_channels)
    return model, model.out_dim, "bench/peers/swav_eager.py (torchvision's architecture%s)" % (
        "" if width == 1.0 and not small_stem else
        ", width %g%s" % (width, ", small stem" if small_stem else ""))


# --- SwAV as main_swav.py computes it ----------------------------------------------------------


class SwavModel(nn.Module):
    def __init__(self, arch, hidden, feat_dim, prototypes, width=1.0, small_stem=False,
                 in_channels=3):
        super().__init__()
        self.trunk, dim, self.trunk_source = make_trunk(arch, width, small_stem, in_channels)
        self.projection_head = nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden),
                                             nn.ReLU(inplace=True), nn.Linear(hidden, feat_dim))
        self.prototypes = nn.Linear(feat_dim, prototypes, bias=False)

    def forward(self, crops):
        # The trunk once per run of equal-size crops, the head once over all of them.
        sizes = torch.tensor([c.shape[-1] for c in crops])
        ends = torch.cumsum(torch.unique_consecutive(sizes, return_counts=True)[1], 0)
        start, feats = 0, []
        for end in ends.tolist():
            feats.append(self.trunk(torch.cat(crops[start:end])))
            start = end
        z = F.normalize(self.projection_head(torch.cat(feats)), dim=1, p=2)
        return z, self.prototypes(z)


@torch.no_grad()
def sinkhorn(out, epsilon, iterations):
    """The authors' distributed_sinkhorn on one process: Q is K x B."""
    q = torch.exp(out / epsilon).t()
    b, k = q.shape[1], q.shape[0]
    q /= torch.sum(q)
    for _ in range(iterations):
        q /= torch.sum(q, dim=1, keepdim=True)
        q /= k
        q /= torch.sum(q, dim=0, keepdim=True)
        q /= b
    q *= b
    return q.t()


def at_least_fp32(t):
    """Sinkhorn and the loss in float32 under bf16 autocast (float64 inputs stay float64)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def swav_loss(output, batch, num_crops, crops_for_assign, epsilon, iterations, temperature):
    """main_swav.py's loss on the scores of every crop (num_crops * batch rows)."""
    loss = 0
    for crop_id in crops_for_assign:
        with torch.no_grad():
            out = at_least_fp32(output[batch * crop_id:batch * (crop_id + 1)].detach())
            q = sinkhorn(out, epsilon, iterations)
        subloss = 0
        for v in [v for v in range(num_crops) if v != crop_id]:
            x = at_least_fp32(output[batch * v:batch * (v + 1)]) / temperature
            subloss -= torch.mean(torch.sum(q * F.log_softmax(x, dim=1), dim=1))
        loss += subloss / (num_crops - 1)
    return loss / len(crops_for_assign)


def parse_crops(text):
    """'2x224,6x96' -> [224, 224, 96, 96, 96, 96, 96, 96]."""
    sizes = []
    for part in text.split(","):
        count, size = part.lower().split("x")
        sizes += [int(size)] * int(count)
    if len(sizes) < 2:
        raise SystemExit("swav_eager.py: --crops needs at least 2 crops, got '%s'" % text)
    return sizes


def load_check_inputs(args, head_prefix):
    """swavbench's exported weights (`export --format full` names: backbone.* with torchvision's
    names, projection_head.projection_head.N.*, prototypes.weight) renamed for a peer whose
    trunk is `trunk` and whose head's layers are under `head_prefix`, and the batch of crops."""
    import os
    weights = torch.load(os.path.join(args.check_loss, "weights.pt"))
    stored = torch.load(os.path.join(args.check_loss, "crops.pt"))
    state = {}
    for name, tensor in weights.items():
        if name.startswith("backbone."):
            name = "trunk." + name[len("backbone."):]
        elif name.startswith("projection_head.projection_head."):
            name = head_prefix + name[len("projection_head.projection_head."):]
        state[name] = tensor
    return state, [stored[str(i)] for i in range(len(stored))]


def load_strictly(model, state):
    """load_state_dict that reports a mismatch as the peer's JSON error (returns False)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        print(json.dumps({"error": "swavbench's weights do not match the peer's model",
                          "missing": missing, "unexpected": unexpected}))
        return False
    return True


def emit(result, losses, path):
    """Prints the figures as JSON (and writes them to `path`); exit status 1 on a NaN loss."""
    if not all(math.isfinite(v) for v in losses):
        result["error"] = "non-finite loss"
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    return 1 if "error" in result else 0


def check_loss(args):
    """The peer's loss on swavbench's batch with swavbench's weights, in train mode as a step
    computes it. Prints {"loss": ...} as JSON."""
    state, crops = load_check_inputs(args, "projection_head.")
    model = SwavModel(args.arch, args.hidden, args.feat_dim, args.prototypes, args.width,
                      args.small_stem, args.in_channels)
    if not load_strictly(model, state):
        return 1
    model.train()
    with torch.no_grad():
        _, output = model(crops)
        loss = swav_loss(output, crops[0].shape[0], len(crops), [0, 1], args.epsilon,
                         args.iterations, args.temperature)
    print(json.dumps({"loss": float(loss), "torch": torch.__version__,
                      "trunk": model.trunk_source}))
    return 0


def parse_args(argv=None):
    """The command line of both peers (swav_lightly.py takes the same)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--arch", default="resnet50", choices=sorted(ARCHS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--crops", default="2x224,6x96")
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--feat-dim", type=int, default=128)
    ap.add_argument("--prototypes", type=int, default=3000)
    ap.add_argument("--epsilon", type=float, default=0.05)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=0.6)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                    help="default: bf16 on CUDA, fp32 on the CPU")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures here too")
    ap.add_argument("--width", type=float, default=1.0, help="trunk width multiplier")
    ap.add_argument("--small-stem", action="store_true",
                    help="3x3 stride-1 conv1 and no max-pool (swavbench's small-image trunk)")
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--weight-decay", type=float, default=1e-6)
    ap.add_argument("--check-loss", default=None, metavar="DIR",
                    help="no timing: print the loss of DIR/crops.pt under DIR/weights.pt "
                         "(written by swavbench's peer test) as JSON")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.check_loss:
        return check_loss(args)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("swav_eager.py: --device cuda but torch.cuda.is_available() is False")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    precision = args.precision or ("bf16" if cuda else "fp32")
    if precision == "bf16" and not cuda:
        raise SystemExit("swav_eager.py: bf16 is measured on CUDA only")
    torch.manual_seed(args.seed)
    sizes = parse_crops(args.crops)
    memory_format = torch.channels_last if cuda else torch.contiguous_format

    model = SwavModel(args.arch, args.hidden, args.feat_dim, args.prototypes, args.width,
                      args.small_stem, args.in_channels)
    model = model.to(device).to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                                weight_decay=args.weight_decay)
    if cuda:
        torch.backends.cudnn.benchmark = True
    crops = [torch.randn(args.batch, args.in_channels, s, s, device=device).contiguous(memory_format=memory_format)
             for s in sizes]

    def step():
        with torch.no_grad():  # main_swav.py normalises the prototypes before every step
            w = model.prototypes.weight.data.clone()
            model.prototypes.weight.copy_(F.normalize(w, dim=1, p=2))
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                            enabled=precision == "bf16"):
            _, output = model(crops)
            loss = swav_loss(output, args.batch, len(sizes), [0, 1], args.epsilon,
                             args.iterations, args.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    losses = [float(step()) for _ in range(args.warmup)]
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    timed = [step() for _ in range(args.steps)]
    sync()
    seconds = time.perf_counter() - start
    losses += [float(v) for v in timed]
    result = {
        "peer": "pytorch-eager",
        "torch": torch.__version__,
        "trunk": model.trunk_source,
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "threads": torch.get_num_threads(),
        "arch": args.arch, "width": args.width, "small_stem": args.small_stem,
        "in_channels": args.in_channels, "batch": args.batch, "crops": args.crops, "prototypes": args.prototypes,
        "precision": precision, "channels_last": cuda,
        "warmup_steps": args.warmup, "timed_steps": args.steps,
        "step_ms": 1000.0 * seconds / max(1, args.steps),
        "img_per_s": args.batch * args.steps / seconds if seconds > 0 else None,
        "peak_memory_bytes": torch.cuda.max_memory_allocated(device) if cuda else None,
        "losses": losses,
        "includes": "step only: forward, Sinkhorn, loss, backward, SGD; crops made once on the "
                    "device (no decode, augmentation or loader)",
        "differs_from_authors": "plain SGD instead of apex LARC; no queue; one process",
    }
    return emit(result, losses, args.json)


if __name__ == "__main__":
    sys.exit(main())
