"""Stream processors: validate, reject, dedup, derive quantities, assign cycles, emit."""
