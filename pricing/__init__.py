"""Pure rating rules: cycles, meters, plans, charge models, limit policies.

Nothing in this package does I/O, reads a clock or imports Kafka, faust or ClickHouse.
"""
