"""Accuracy of a classifier: clean, under Gaussian noise, and under an FGSM attack.

Images are float tensors in [0, 1]; perturbed images are clipped back to [0, 1].
"""

from __future__ import annotations

from typing import Any

BATCH = 500


def accuracy(model, x, y, device: str = "cpu") -> float:
    """Share of images whose arg-max class is the label (model in eval mode)."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), BATCH):
            out = model(x[start : start + BATCH].to(device))
            correct += int((out.argmax(1).cpu() == y[start : start + BATCH]).sum())
    return correct / max(len(y), 1)


def noise_accuracy(model, x, y, sigma: float, seed: int, device: str = "cpu") -> float:
    """Accuracy on clip(x + σ·N(0, 1), 0, 1), the noise drawn from a generator seeded with ``seed``."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    noisy = (x + sigma * torch.randn(x.shape, generator=generator)).clamp(0.0, 1.0)
    return accuracy(model, noisy, y, device)


def fgsm_images(model, x, y, eps: float, device: str = "cpu"):
    """FGSM (Goodfellow et al. 2015): clip(x + ε · sign(∇ₓ cross-entropy), 0, 1), model in eval mode."""
    import torch
    import torch.nn.functional as F

    model.eval()
    out = []
    for start in range(0, len(y), BATCH):
        xb = x[start : start + BATCH].to(device).clone().requires_grad_(True)
        loss = F.cross_entropy(model(xb), y[start : start + BATCH].to(device), reduction="sum")
        (gradient,) = torch.autograd.grad(loss, xb)
        out.append((xb.detach() + eps * gradient.sign()).clamp(0.0, 1.0).cpu())
    return torch.cat(out) if out else x


def fgsm_accuracy(model, x, y, eps: float, device: str = "cpu") -> float:
    return accuracy(model, fgsm_images(model, x, y, eps, device), y, device)


def robustness(model, x, y, sigmas, eps_values, seed: int, device: str = "cpu") -> dict[str, Any]:
    """Clean accuracy, accuracy per noise σ and per FGSM ε, and their means over levels."""
    clean = accuracy(model, x, y, device)
    noise = {f"{s:g}": noise_accuracy(model, x, y, float(s), seed, device) for s in sigmas}
    fgsm = {f"{e:g}": fgsm_accuracy(model, x, y, float(e), device) for e in eps_values}
    return {"accuracy": clean, "noise_accuracy": noise, "fgsm_accuracy": fgsm,
            "mean_noise_accuracy": sum(noise.values()) / len(noise), "mean_fgsm_accuracy": sum(fgsm.values()) / len(fgsm)}
