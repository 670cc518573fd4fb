"""Platform configuration: a directory of YAML files (and the offices' offices.csv, see
:mod:`ccpros_agi.directory`), loaded and checked by :func:`load_config`."""

from .loader import load_config
from .models import Advisor, Config, ConfigError, Hours, Individuals, Problem, Site, Topic, Trunk

__all__ = [
    "Advisor", "Config", "ConfigError", "Hours", "Individuals", "Problem", "Site", "Topic", "Trunk",
    "load_config",
]
