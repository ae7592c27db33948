#!/usr/bin/env python3
"""Which CPU kernels LibTorch actually runs under the current environment.

Prints one line each for ATen's dispatch capability (ATEN_CPU_CAPABILITY), oneDNN's ISA
(DNNL_MAX_CPU_ISA, from its own verbose line), the OpenBLAS core (OPENBLAS_CORETYPE) and the
intra-op threads. Uses Debian's python3-torch, which runs the same shared LibTorch 1.13
libraries (libtorch_cpu, oneDNN inside it, the system OpenBLAS) as the C++ tests, so the
environment caps them the same way. Used by scripts/test-foreign-cpu.sh.
"""
import ctypes
import os
import re
import subprocess
import sys


def probe():
    import torch
    config = torch.__config__.show()
    capability = re.search(r"CPU capability usage: (\S+)", config)
    print("aten capability:", capability.group(1) if capability else "unknown")
    a = torch.randn(64, 64)
    (a @ a).sum().item()  # loads and runs the BLAS
    core = "unknown"
    with open("/proc/self/maps") as maps:
        for path in sorted({l.split()[-1] for l in maps if "blas" in l and "/" in l}):
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                core = lib.openblas_get_corename().decode()
                break
            except (OSError, AttributeError):
                continue
    print("openblas core:", core)
    print("intra-op threads:", torch.get_num_threads())
    sys.stdout.flush()
    x = torch.randn(2, 3, 16, 16)
    torch.nn.functional.conv2d(x, torch.randn(8, 3, 3, 3))  # oneDNN prints its ISA line


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        probe()
        return
    env = dict(os.environ, DNNL_VERBOSE="1", ONEDNN_VERBOSE="1")
    out = subprocess.run([sys.executable, __file__, "--probe"], env=env, capture_output=True,
                         text=True, check=True).stdout
    isa = "unknown (oneDNN printed no ISA line)"
    for line in out.splitlines():
        if line.startswith(("aten", "openblas", "intra-op")):
            print("  " + line)
        m = re.search(r"(?:dnnl|onednn)_verbose,info,cpu,isa:(.*)", line)
        if m:
            isa = m.group(1).strip()
    print("  onednn isa:", isa)


if __name__ == "__main__":
    main()
