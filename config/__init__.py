"""Stack configuration: pydantic models, loaded and validated once."""
from config.errors import ConfigError, Problem
from config.loader import PROJECT, load_stack_config, parse_stack_config
from config.model import StackConfig

__all__ = ["PROJECT", "ConfigError", "Problem", "StackConfig", "load_stack_config", "parse_stack_config"]
