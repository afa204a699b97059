"""Offline evaluation of routing quality against JSONL data sets (see shared/evaldata/README.md)."""
