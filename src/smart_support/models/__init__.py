"""Chat models: the offline model, text matching, and providers through init_chat_model."""

from smart_support.models.matching import Match, Matcher
from smart_support.models.offline import OfflineChatModel
from smart_support.models.provider import build_chat_model, model_label

__all__ = ["Match", "Matcher", "OfflineChatModel", "build_chat_model", "model_label"]
