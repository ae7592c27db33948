#!/usr/bin/env python3
"""Collects the GPU check's figures into one JSON file (scripts/device/gpu-check.sh).

Reads what the steps before it left: the swavbench database of suite/gpu_throughput.lua (one
run per batch size; the last epoch's row, after cuDNN autotuning in the first), the Python
eager peer's JSON per batch size (bench/peers/swav_eager.py), Google Benchmark's JSON of the
CUDA Sinkhorn, the crops ablation's database; and writes the figures with the targets of the
issue and, where a figure falls short, the stage that limits it.

    gpu_figures.py --db D --peer-dir P --sinkhorn S.json --ablation-db A --gpu-name NAME --out F

Every input is optional: a step that failed leaves its figure out, with the reason under
"missing", never a made-up number. Python's standard library only (the GPU machine has no
package registry).
"""
import argparse
import json
import os
import sqlite3
import sys

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from NVIDIA's data sheets.
BF16_DENSE_PEAK = [
    ("H200", 989.4e12),
    ("H100 PCIe", 756.0e12),
    ("H100 NVL", 835.0e12),
    ("H100", 989.4e12),  # SXM5 (H100 80GB HBM3)
    ("A100", 312.0e12),
]

TARGETS = {"img_per_s_min": 1500.0, "data_wait_max": 0.05, "ratio_vs_eager_min": 1.2}


def bf16_peak(gpu_name):
    for key, peak in BF16_DENSE_PEAK:
        if key.lower() in (gpu_name or "").lower():
            return key, peak
    return None, None


def throughput_rows(db_path):
    """Per run of gpu_throughput.lua: its last epoch's figures."""
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    rows = []
    for run_id, label, config_json, status, reason in con.execute(
            "SELECT id, label, config_json, status, reason FROM runs ORDER BY id"):
        config = json.loads(config_json)
        epochs = con.execute(
            "SELECT epoch, loss, img_per_s, data_wait, peak_mem, extra_json FROM epochs "
            "WHERE run_id = ? ORDER BY epoch", (run_id,)).fetchall()
        row = {"run_id": run_id, "label": label, "status": status,
               "batch_per_gpu": config.get("batch_size"), "arch": config.get("arch"),
               "precision": config.get("precision"), "crops": config.get("crops")}
        if reason:
            row["reason"] = reason
        if epochs:
            epoch, loss, img_per_s, data_wait, peak_mem, extra_json = epochs[-1]
            extra = json.loads(extra_json or "{}")
            row.update({"epoch_measured": epoch, "epochs_recorded": len(epochs), "loss": loss,
                        "img_per_s": img_per_s, "data_wait": data_wait,
                        "peak_gpu_memory_bytes": peak_mem,
                        "model_gflop_per_s": extra.get("model_gflop_per_s")})
        rows.append(row)
    con.close()
    return rows


def limiting_stage(row):
    if row.get("data_wait") is not None and row["data_wait"] > TARGETS["data_wait_max"]:
        return ("loader: JPEG decode and resize on the CPU workers (data-wait %.1f%% of the epoch)"
                % (100 * row["data_wait"]))
    return "step: forward, Sinkhorn, loss and backward on the GPU (augmentation runs there too)"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--db")
    ap.add_argument("--peer-dir")
    ap.add_argument("--sinkhorn")
    ap.add_argument("--ablation-db")
    ap.add_argument("--gpu-name", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    figures = {"gpu": args.gpu_name, "targets": TARGETS, "missing": {}}
    peak_name, peak = bf16_peak(args.gpu_name)
    figures["bf16_dense_peak_flop_per_s"] = peak
    if peak is None:
        figures["missing"]["mfu"] = "no bf16 peak known for GPU '%s'" % args.gpu_name

    peers = {}
    if args.peer_dir and os.path.isdir(args.peer_dir):
        for name in sorted(os.listdir(args.peer_dir)):
            if name.endswith(".json"):
                with open(os.path.join(args.peer_dir, name)) as f:
                    peer = json.load(f)
                peers[peer.get("batch")] = peer

    if args.db and os.path.exists(args.db):
        rows = throughput_rows(args.db)
        for row in rows:
            if row.get("img_per_s") is None:
                continue
            if peak and row.get("model_gflop_per_s") is not None:
                row["mfu_vs_bf16_peak"] = row["model_gflop_per_s"] * 1e9 / peak
            peer = peers.get(row["batch_per_gpu"])
            if peer and peer.get("img_per_s"):
                row["eager_peer_img_per_s"] = peer["img_per_s"]
                row["ratio_vs_eager_peer"] = row["img_per_s"] / peer["img_per_s"]
            row["meets"] = {
                "img_per_s": row["img_per_s"] >= TARGETS["img_per_s_min"],
                "data_wait": row["data_wait"] <= TARGETS["data_wait_max"],
                "ratio_vs_eager": (row.get("ratio_vs_eager_peer") or 0) >= TARGETS["ratio_vs_eager_min"],
            }
            if not all(row["meets"].values()):
                row["limited_by"] = limiting_stage(row)
        figures["swav_resnet50_throughput"] = rows
    else:
        figures["missing"]["swav_resnet50_throughput"] = "no database at %s" % args.db
    figures["eager_peer"] = list(peers.values())
    if not peers:
        figures["missing"]["eager_peer"] = "no peer JSON in %s" % args.peer_dir

    if args.sinkhorn and os.path.exists(args.sinkhorn):
        with open(args.sinkhorn) as f:
            bench = json.load(f)
        for b in bench.get("benchmarks", []):
            if b.get("name", "").startswith("BM_SinkhornCuda/4096/3000") and "error_message" not in b:
                scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "us")]
                figures["sinkhorn_4096x3000_3it_us"] = b["real_time"] * scale
        if "sinkhorn_4096x3000_3it_us" not in figures:
            figures["missing"]["sinkhorn"] = "BM_SinkhornCuda/4096/3000 not in %s" % args.sinkhorn
    else:
        figures["missing"]["sinkhorn"] = "no benchmark JSON at %s" % args.sinkhorn

    if args.ablation_db and os.path.exists(args.ablation_db):
        con = sqlite3.connect("file:%s?mode=ro" % args.ablation_db, uri=True)
        runs = []
        for run_id, label, status in con.execute("SELECT id, label, status FROM runs ORDER BY id"):
            curve = [{"epoch": e, "loss": l, "img_per_s": r} for e, l, r in con.execute(
                "SELECT epoch, loss, img_per_s FROM epochs WHERE run_id = ? ORDER BY epoch",
                (run_id,))]
            evals = {"%s.%s" % (p, m): v for p, m, v in con.execute(
                "SELECT protocol, metric, value FROM evals WHERE run_id = ?", (run_id,))}
            runs.append({"label": label, "status": status, "loss_curve": curve, "evals": evals})
        con.close()
        figures["ablation_crops_full_one_epoch"] = runs
    else:
        figures["missing"]["ablation_crops"] = "no database at %s" % args.ablation_db

    with open(args.out, "w") as f:
        json.dump(figures, f, indent=2)
        f.write("\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
