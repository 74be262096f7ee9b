"""The search space: the bitwidth genome and the accelerator genes."""
