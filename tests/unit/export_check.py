"""Loads a `swavbench export` file the way a PyTorch user would and checks it against
torchvision, independently of swavbench's code.

usage: export_check.py WEIGHTS.pt BATCH.pt ARCH SMALL_STEM IN_CHANNELS

WEIGHTS.pt is the exported trunk; BATCH.pt a dict {"x": input batch, "features": swavbench's
features of x in eval mode}. Builds torchvision.models.<ARCH>() (with the README's stem change
when SMALL_STEM is 1 or IN_CHANNELS is not 3), loads the weights, and compares the key order,
the missing/unexpected keys and the pooled features. Prints what it measured; exit 1 on a
mismatch.
"""
import sys

import torch
import torchvision

weights_path, batch_path, arch, small_stem, in_channels = sys.argv[1:6]
small_stem = small_stem == "1"
in_channels = int(in_channels)

state = torch.load(weights_path)
batch = torch.load(batch_path)
assert isinstance(state, dict), type(state)

model = getattr(torchvision.models, arch)()
if small_stem:
    model.conv1 = torch.nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
elif in_channels != 3:
    model.conv1 = torch.nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)

expected_order = [k for k in model.state_dict() if not k.startswith("fc.")]
if list(state) != expected_order:
    print("key order differs from torchvision's state_dict")
    print("first difference:", next((a, b) for a, b in zip(list(state), expected_order) if a != b)
          if len(state) == len(expected_order) else (len(state), len(expected_order)))
    sys.exit(1)

result = model.load_state_dict(state, strict=False)
if sorted(result.missing_keys) != ["fc.bias", "fc.weight"] or result.unexpected_keys:
    print("missing", result.missing_keys, "unexpected", result.unexpected_keys)
    sys.exit(1)

model.fc = torch.nn.Identity()
model.eval()
with torch.no_grad():
    features = model(batch["x"])
ours = batch["features"]
if features.shape != ours.shape:
    print("feature shapes differ:", tuple(features.shape), tuple(ours.shape))
    sys.exit(1)
scale = max(1.0, ours.abs().max().item())
diff = (features - ours).abs().max().item()
print(f"{arch} small_stem={int(small_stem)} in_channels={in_channels}: {len(state)} tensors, "
      f"max |torchvision - swavbench| = {diff:.3g} (feature scale {scale:.3g})")
sys.exit(0 if diff <= 1e-5 * scale else 1)
