"""ψ, the accuracy fitness: quantization-aware fine-tuning of a CNN under a strategy.

Torch is imported only by the modules that train (quantizers, apply, data, train, session);
``evaluator``, ``recipes``, ``schemes`` and ``store`` are light, so the search can import the
evaluator API without paying for torch until it first trains.
"""
