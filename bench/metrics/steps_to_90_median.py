"""Training steps to close 90 % of the persistence-to-Bayes gap on validation, at the best LR."""

from bench.metrics._select import steps_to_target

METRIC = steps_to_target(90, position=64)[0]
