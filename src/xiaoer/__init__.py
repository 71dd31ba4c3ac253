"""店小二 xiaoer: agent-native customer service for online shops."""

__version__ = "0.1.0"
