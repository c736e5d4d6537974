"""The `rules/` folder: feeds, defines, rules and subscriptions, loaded with positions."""

from services.common.config.load import load_config
from services.common.config.model import (
    Config,
    FeedConfig,
    Problem,
    RuleConfig,
    SubscriptionConfig,
)

__all__ = [
    "Config",
    "FeedConfig",
    "Problem",
    "RuleConfig",
    "SubscriptionConfig",
    "load_config",
]
