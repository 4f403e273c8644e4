"""DistributedDataParallel set-up from torchrun's environment (NCCL on GPUs, gloo on CPU).

Every rank builds the same global batch for a step and trains on its own rows of it (rank r takes rows
r, r+W, r+2W, ...), so W processes see exactly the examples one process would; losses are normalised by
global counts, so the gradients equal the single-process ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def all_reduce_sum(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Sum a dict of numbers over ranks (identity when alone)."""
    if not info.enabled or not values:
        return dict(values)
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                          device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist()))


def shard(batch: dict[str, torch.Tensor], info: DistInfo) -> dict[str, torch.Tensor]:
    """This rank's rows of a global batch."""
    if not info.enabled:
        return batch
    return {k: v[info.rank::info.world_size] for k, v in batch.items()}


def cleanup() -> None:
    """Leave the process group: wait for every rank, then destroy it. A process that exits with the group
    still alive can abort in gloo's threads ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
