"""mcproute: one MCP endpoint in front of many MCP servers and model providers.

For every agent step it decides which tool to call and which model tier to run it with,
sticky across a conversation, and records each choice as OpenTelemetry spans.
"""

__version__ = "0.1.0"
