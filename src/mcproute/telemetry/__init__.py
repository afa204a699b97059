"""Traces of every choice: span helpers (API only) for the gateway, and `setup()` for the SDK.

Library code imports `mcproute.telemetry.spans`, `.decision` and `.semconv` (OpenTelemetry API
only). `setup`, `jsonl`, `redact` and `reader` are the application side: only entry points
(`mcproute serve`, the CLI, tests) import them.
"""
