"""The base of every servers.yaml model: unknown keys are errors (with a suggestion), values frozen."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # server, model and client names; the tool separator
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
