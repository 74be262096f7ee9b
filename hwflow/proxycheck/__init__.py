"""``hwflow proxy-check``: does the cheap ψ rank strategies like full training does?

``sampling`` draws strategies across the range of Frac.OPs, ``measure`` computes ψ at each
fine-tune budget and the retrain-from-scratch accuracy (both through the accuracy cache and
the search's dispatch), ``statistics`` ranks them against each other, ``report`` writes the
CSV, the JSON object and the plots.
"""
