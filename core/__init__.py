"""The decision core: pure, imports only `schemas` and `pricing` (see README.md)."""
