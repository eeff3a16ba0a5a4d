"""The paper's two conclusions tested by experiment, on checkpoints the workflow trains.

1. Transfer: does pre-training succeed on arbitrary data once the source is large and
   varied enough? Sources along size × variance (classes kept), real and synthetic,
   fine-tuned on held-out targets with small and larger label budgets, against training
   from scratch and pre-training on the target's own domain.
2. Degeneracy: are checkpoints with more degenerated filters worse to fine-tune and less
   robust? Checkpoints with controlled degeneracy (width, weight decay, learning rate,
   magnitude pruning, the untrained init), each fine-tuned and attacked.

Modules: ``design`` (design tables and config, no torch), ``training`` (the seeded,
resumable step loop for pre-training and fine-tuning), ``robustness`` (clean, Gaussian
noise and FGSM accuracy), ``pruning``, ``measures`` (degeneracy via the workflow's
metrics, D via its basis and shift functions, Spearman ρ with a bootstrap interval,
pixel spread), ``tables`` (the result tables and the findings rows).
"""
