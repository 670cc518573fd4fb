"""Platform configuration: a directory of YAML files, loaded and checked by :func:`load_config`."""

from .loader import load_config
from .models import Advisor, Config, ConfigError, Hours, Problem, Site, Topic, Trunk

__all__ = [
    "Advisor", "Config", "ConfigError", "Hours", "Problem", "Site", "Topic", "Trunk", "load_config",
]
