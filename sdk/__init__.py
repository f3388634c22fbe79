"""Offline Chinese call-center compliance QA (客服质检).

    import sdk
    sdk.check("喂，说话呀！").label  # "non_compliant"

Importing is cheap: the rulebook and any model load on first use.
"""

from . import audit as _audit_package  # noqa: F401  bound first, so that `sdk.audit` below is the function
from .checker import Checker, audit, audit_batch, check, check_batch, emotion, emotion_batch
from .context import Turn
from .engines.base import ModelUnavailable
from .labels import COMPLIANCE_LABELS, EMOTION_LABELS
from .results import CheckResult, DecidedBy, EmotionResult, Finding
from .rulebook.schema import RulebookError

# `sdk.audit` is the function and `sdk/audit/` its package. `import sdk.audit.readers as r` resolves the
# submodule through the function's __name__ (the import system's fallback), so name it after the package.
audit.__name__ = "sdk.audit"

__version__ = "0.1.0"
__all__ = [
    "Checker",
    "audit",
    "audit_batch",
    "check",
    "check_batch",
    "emotion",
    "emotion_batch",
    "CheckResult",
    "EmotionResult",
    "Finding",
    "DecidedBy",
    "Turn",
    "ModelUnavailable",
    "RulebookError",
    "COMPLIANCE_LABELS",
    "EMOTION_LABELS",
    "__version__",
]
