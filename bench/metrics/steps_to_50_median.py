"""Training steps to close 50 % of the persistence-to-Bayes gap on validation, at the best LR."""

from bench.metrics._select import steps_to_target

METRIC = steps_to_target(50, position=62)[0]
