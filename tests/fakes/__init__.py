"""Test doubles that speak real wire formats over real loopback connections (see llm_server)."""
