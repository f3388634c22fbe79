"""Offline Chinese call-center compliance QA (客服质检).

    import sdk
    sdk.check("喂，说话呀！").label  # "non_compliant"

Importing is cheap: the rulebook and any model load on first use.
"""
from .checker import Checker, check, check_batch, emotion, emotion_batch
from .context import Turn
from .engines.base import ModelUnavailable
from .labels import COMPLIANCE_LABELS, EMOTION_LABELS
from .results import CheckResult, DecidedBy, EmotionResult, Finding
from .rulebook.schema import RulebookError

__version__ = "0.1.0"
__all__ = [
    "Checker", "check", "check_batch", "emotion", "emotion_batch", "CheckResult", "EmotionResult", "Finding",
    "DecidedBy", "Turn", "ModelUnavailable", "RulebookError", "COMPLIANCE_LABELS", "EMOTION_LABELS", "__version__",
]
