"""Multi-process training through torchrun: one process per GPU (or CPU process on gloo).

    torchrun --nproc_per_node 8 -m skyviewer.train step --data DATASET --preset gpu
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --nproc_per_node 8 -m skyviewer.train ...

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; without them training runs in
one process. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str | None = None) -> Dist:
    """Join the torchrun process group if there is one; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Dist(rank=rank, world_size=world, device=dev)


def cleanup() -> None:
    """Leave the process group together: a gloo rank whose peer has already torn down its
    connections can abort at exit ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def gather(obj) -> list:
    """Every process's `obj` (picklable), in rank order, on every process."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def check_in_sync(module: torch.nn.Module) -> None:
    """Raise if the processes' weights differ: the gradient all-reduce must keep them identical."""
    if not dist.is_initialized():
        return
    checksum = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().cpu()
    sums = gather(float(checksum))
    if max(sums) != min(sums):
        raise RuntimeError(f"DDP processes diverged: weight checksums {sums}")
