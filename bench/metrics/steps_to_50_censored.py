"""Whether the median seed at the best LR never closed 50 % of the gap within the budget."""

from bench.metrics._select import steps_to_target

METRIC = steps_to_target(50, position=62)[1]
