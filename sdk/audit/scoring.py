"""Apply a score card to one audited call.

Each item deducts ``points`` per hit, at most ``cap`` in all; a call-level
finding is counted by the first item that selects it, per-turn findings (by
rule id) and per-turn labels are counted by every item that selects them. A hit
on a ``critical`` item fails the call whatever its score.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..results import CheckResult
from .config import Scorecard, ScoreItem
from .results import CallFinding, ScoreLine

_MEMO: Dict[Tuple[Tuple[str, ...], str], bool] = {}


def _selects(item: ScoreItem, kind: str, name: str) -> bool:
    """item.selects_check / selects_rule, memoised (glob matching per finding adds up over a batch)."""
    key = (tuple(item.checks if kind == "check" else item.rules), name)
    hit = _MEMO.get(key)
    if hit is None:
        if len(_MEMO) > 100_000:
            _MEMO.clear()
        hit = _MEMO[key] = item.selects_check(name) if kind == "check" else item.selects_rule(name)
    return hit


class _Budget:
    """What one item may still deduct, and what it has deducted."""

    def __init__(self, points: float, cap: Optional[float]) -> None:
        self.points, self.left, self.spent = points, (cap if cap is not None else float("inf")), 0.0

    def take(self) -> float:
        pts = min(self.points, self.left)
        self.left -= pts
        self.spent += pts
        return pts


def apply_scorecard(
    card: Scorecard, findings: Sequence[CallFinding], turn_results: Sequence[Any]
) -> Tuple[float, bool, List[CallFinding], List[ScoreLine], List[str]]:
    """(score, passed, findings with their points, one line per item, critical items hit)."""
    scored = list(findings)
    counted = [False] * len(scored)
    lines: List[ScoreLine] = []
    critical: List[str] = []
    deducted = 0.0
    agent_results = [r for r in turn_results if isinstance(r, CheckResult)]
    for item in card.items:
        budget = _Budget(item.points, item.cap)
        hits = 0
        for k, f in enumerate(scored):
            if not counted[k] and _selects(item, "check", f.check_id):
                counted[k] = True
                hits += 1
                scored[k] = f.with_points(budget.take(), item.id)
        if item.rules:
            for r in agent_results:
                for rf in r.findings:
                    if _selects(item, "rule", rf.rule_id):
                        hits += 1
                        budget.take()
        if item.labels:
            for r in agent_results:
                if r.label in item.labels:
                    hits += 1
                    budget.take()
        if item.critical and hits:
            critical.append(item.id)
        deducted += budget.spent
        lines.append(ScoreLine(item.id, item.name, hits, budget.spent, item.critical))
    score = round(max(0.0, card.total - deducted), 2)
    passed = not critical and score >= card.pass_mark
    return score, passed, scored, lines, critical
