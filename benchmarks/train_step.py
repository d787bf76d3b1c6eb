"""One FGLA training step (forward, eq. 12, backward, Adam) at 256x256: time, peak memory, parameters.

    .venv/bin/python benchmarks/train_step.py [--device cpu|cuda] [--steps 5] [--batches 1 4]

For the paper model ("fine-grained") and the "w/o LM" ablation ("plain"), each batch size runs in a
fresh subprocess so that its peak memory is its own: on CPU the process's peak resident set
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which includes the ~0.4 GB of the torch import),
on CUDA ``torch.cuda.max_memory_allocated``. Inputs are random tensors: the loader is not timed.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def measure(encoder: str, batch: int, device: str, steps: int) -> dict:
    """Time ``steps`` training steps after 2 warm-up steps; peak memory of this process."""
    from fgla_model.losses import fgla_loss
    from fgla_model.model import FGLA, FGLAConfig, count_parameters, prepare_encoder_inputs

    torch.manual_seed(0)
    config = FGLAConfig(encoder=encoder)
    model = FGLA(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    S = config.image_size
    frame, next_frame = torch.rand(2, batch, 3, S, S, device=device) * 2 - 1  # (B, 3, S, S) each
    flow = torch.randn(batch, 2, S, S, device=device)  # (B, 2, S, S) px
    groups = torch.randint(0, 6, (batch, S, S), device=device)  # (B, S, S)
    enc_flow, enc_masks = prepare_encoder_inputs(flow.flip(-1), groups.flip(-1), config.encoder_size)
    amp = device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def step():
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            out = model(frame, groups, enc_flow, enc_masks)
        loss = fgla_loss(out.next_frame.float(), next_frame, out.flow.float(), flow)["total"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(2):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / steps
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # ru_maxrss is KiB on Linux
    return {"encoder": encoder, "batch": batch, "device": device, "threads": torch.get_num_threads(),
            "seconds_per_step": seconds, "peak_bytes": peak, "parameters": count_parameters(model),
            "encoder_parameters": count_parameters(model.encoder),
            "generator_parameters": count_parameters(model.generator)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--one", nargs=2, metavar=("ENCODER", "BATCH"), help=argparse.SUPPRESS)  # the subprocess
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.device, args.steps)))
        return
    print("| encoder | batch | s / step | peak memory | parameters (E + P) |")
    print("|---|---|---|---|---|")
    for encoder in ("fine-grained", "plain"):
        for batch in args.batches:
            out = subprocess.run([sys.executable, __file__, "--one", encoder, str(batch), "--device", args.device,
                                  "--steps", str(args.steps)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            memory = "GPU allocated" if args.device == "cuda" else "max RSS"
            print(f"| {encoder} | {batch} | {r['seconds_per_step']:.3f} | {r['peak_bytes'] / 2**30:.2f} GiB {memory} | "
                  f"{r['parameters']:,} ({r['encoder_parameters']:,} + {r['generator_parameters']:,}) |", flush=True)


if __name__ == "__main__":
    main()
