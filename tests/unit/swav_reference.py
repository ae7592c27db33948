#!/usr/bin/env python3
"""Independent float64 reference for swav/sinkhorn.cpp and swav/swav_loss.cpp.

Re-implements the authors' `distributed_sinkhorn` and the swapped-prediction loss of
main_swav.py (Caron et al. 2020, facebookresearch/swav) in plain PyTorch, single process, float64.
Run by tests/unit/test_swav_numerics.cpp as

    swav_reference.py IN OUT

IN (whitespace-separated text):
    num_crops B K D L epsilon iterations temperature num_assign
    crops_for_assign[0..num_assign)
    num_crops blocks of B x K scores            (crop v's z_v^T C)
    K x D prototypes C                          (only if L > 0)
    num_assign blocks of L x D queue embeddings (only if L > 0; newest first, already full)
OUT:
    the loss, then num_assign blocks of B x K codes, one number per line.
"""
import sys

import torch


def sinkhorn(out, epsilon, iterations):
    # Q is K x B as in the paper; single process, so B is the local batch.
    q = torch.exp(out / epsilon).t()
    b = q.shape[1]
    k = q.shape[0]
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True)
        q = q / k
        q = q / q.sum(dim=0, keepdim=True)
        q = q / b
    q = q * b
    return q.t()


def main():
    with open(sys.argv[1]) as f:
        tokens = f.read().split()
    pos = 0

    def take(n):
        nonlocal pos
        vals = tokens[pos:pos + n]
        pos += n
        return vals

    num_crops, b, k, d, length = (int(x) for x in take(5))
    epsilon, iterations, temperature = float(take(1)[0]), int(take(1)[0]), float(take(1)[0])
    num_assign = int(take(1)[0])
    crops_for_assign = [int(x) for x in take(num_assign)]

    def matrix(rows, cols):
        return torch.tensor([float(x) for x in take(rows * cols)],
                            dtype=torch.float64).reshape(rows, cols)

    scores = [matrix(b, k) for _ in range(num_crops)]
    queue = None
    if length > 0:
        prototypes = matrix(k, d)
        queue = [matrix(length, d) for _ in range(num_assign)]
    assert pos == len(tokens), "trailing input"

    loss = torch.zeros((), dtype=torch.float64)
    codes = []
    for i, crop_id in enumerate(crops_for_assign):
        out = scores[crop_id]
        if queue is not None:
            out = torch.cat((torch.mm(queue[i], prototypes.t()), out))
        q = sinkhorn(out, epsilon, iterations)[-b:]
        codes.append(q)
        subloss = 0
        for v in range(num_crops):
            if v == crop_id:
                continue
            x = scores[v] / temperature
            subloss -= torch.mean(torch.sum(q * torch.log_softmax(x, dim=1), dim=1))
        loss += subloss / (num_crops - 1)
    loss /= len(crops_for_assign)

    with open(sys.argv[2], "w") as f:
        f.write("%.17g\n" % loss.item())
        for q in codes:
            for x in q.reshape(-1).tolist():
                f.write("%.17g\n" % x)


if __name__ == "__main__":
    main()
