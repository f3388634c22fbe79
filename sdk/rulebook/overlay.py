"""Reading rulebook YAML and layering a QA team's overlay on the raw default (before validation).

Rules an overlay adds (``rules``, ``forbidden_words``, ``required_phrases``) are the team's own and
bind by default (``binding: true``): they decide the label under every engine.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any, Dict, List, Mapping

from .schema import OVERLAY_KEYS, Problems, RulebookError


def read_yaml(path: str) -> Dict[str, Any]:
    import yaml

    if not os.path.isfile(path):
        raise FileNotFoundError(f"rulebook file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise RulebookError([f"{path}: not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise RulebookError([f"{path}: top level must be a mapping, got {type(data).__name__}"])
    return data


def apply_overlay(base: Dict[str, Any], overlay: Mapping[str, Any], path: str, problems: Problems) -> Dict[str, Any]:
    """``base`` with one overlay merged in; each problem of the overlay is added to ``problems``
    (naming ``path``) and the entry skipped, so one load reports them all."""
    problems = _Named(problems, path)
    unknown = sorted(set(overlay) - set(OVERLAY_KEYS))
    if unknown:
        problems.add(f"unknown overlay key(s) {unknown}; expected any of {list(OVERLAY_KEYS)}")
    out = copy.deepcopy(base)
    if "company_name" in overlay:
        out["company_name"] = overlay["company_name"]
    _merge_lexicons(out, overlay.get("lexicons") or {}, problems)
    _merge_cues(out, overlay.get("cues") or [], problems)
    rules = {r.get("id"): r for r in out.get("rules", []) if isinstance(r, dict)}
    _merge_rules(rules, overlay, path, problems)
    out["rules"] = list(rules.values())
    if overlay.get("emotion") is not None:
        out["emotion"] = _merge_emotion(out.get("emotion") or {}, overlay["emotion"], problems)
    if overlay.get("call") is not None:
        out["call"] = _merge_call(out.get("call"), overlay["call"], path, problems)
    if overlay.get("scorecard") is not None:
        out["scorecard"] = overlay["scorecard"]  # a team's own score card replaces the default
    return out


class _Named(Problems):
    """The shared collector, with this overlay's path as the default place."""

    def __init__(self, shared: Problems, path: str):
        super().__init__(path)
        self.items = shared.items


def _merge_lexicons(out: Dict[str, Any], lexicons: Any, problems: Problems) -> None:
    if not isinstance(lexicons, Mapping):
        problems.add(f"lexicons must be a mapping of name: [phrases], got {type(lexicons).__name__}")
        return
    for name, words in lexicons.items():
        if not isinstance(words, list):
            problems.add(f"lexicons.{name} must be a list of phrases")
            continue
        out.setdefault("lexicons", {}).setdefault(name, [])
        out["lexicons"][name] = list(out["lexicons"][name]) + list(words)


def _merge_cues(out: Dict[str, Any], cues: Any, problems: Problems) -> None:
    merged = {c.get("id"): c for c in out.get("cues", []) if isinstance(c, dict)}
    seen = set()
    for cue in cues if isinstance(cues, list) else []:
        cid = cue.get("id") if isinstance(cue, dict) else None
        if cid in seen:
            problems.add(f"cue {cid!r} field 'id': duplicate cue id in this overlay")
            continue
        seen.add(cid)
        merged[cid] = cue
    out["cues"] = list(merged.values())


def _merge_rules(rules: Dict[Any, Any], overlay: Mapping[str, Any], path: str, problems: Problems) -> None:
    seen = set()
    for rule in overlay.get("rules") or []:
        if not isinstance(rule, dict) or "id" not in rule:
            problems.add(f"every entry of 'rules' needs an 'id' (got {rule!r:.80})")
            continue
        if rule["id"] in seen:
            problems.add(f"rule {rule['id']!r} field 'id': duplicate rule id in this overlay")
            continue
        seen.add(rule["id"])
        # an existing id is replaced: that is how an overlay overrides a rule; a team's own rule binds
        rules[rule["id"]] = {"binding": True, **rule}
    for rule_id, changes in (overlay.get("overrides") or {}).items():
        if rule_id not in rules:
            problems.add(f"overrides.{rule_id}: no such rule; known ids start {sorted(rules)[:5]}…")
        elif not isinstance(changes, dict):
            problems.add(f"overrides.{rule_id} must be a mapping of field: value")
        else:
            rules[rule_id] = {**rules[rule_id], **changes}
    for rule_id in overlay.get("disable") or []:
        if rule_id not in rules:
            problems.add(f"disable: no rule {rule_id!r}")
        else:
            rules[rule_id] = {**rules[rule_id], "enabled": False}
    for i, item in enumerate(overlay.get("forbidden_words") or []):
        if not isinstance(item, (str, dict)):
            problems.add(f"forbidden_words[{i}] must be a phrase or a mapping with 'phrase', got {item!r:.60}")
            continue
        entry = {"phrase": item} if isinstance(item, str) else dict(item)
        rid = entry.pop("id", f"custom.forbidden.{i + 1}")
        phrase = entry.pop("phrase", None)
        rules[rid] = {
            "id": rid,
            "kind": "forbidden",
            "label": "non_compliant",
            "scenario": entry.pop("scenario", "general_enquiry"),
            "severity": entry.pop("severity", "medium"),
            "phrases": [phrase] if phrase else [],
            "patterns": entry.pop("patterns", []),
            "message": entry.pop("message", f"使用了本公司禁用语“{phrase}”"),
            "suggestion": entry.pop("suggestion", None),
            "source": entry.pop("source", path),
            "binding": True,
            **entry,
        }
    for i, item in enumerate(overlay.get("required_phrases") or []):
        if not isinstance(item, dict):
            problems.add(f"required_phrases[{i}] must be a mapping with 'phrases', got {item!r:.60}")
            continue
        entry = dict(item)
        rid = entry.pop("id", f"custom.required.{i + 1}")
        phrases: List[str] = list(entry.pop("phrases", []))
        patterns: List[str] = list(entry.pop("patterns", []))
        rules[rid] = {
            "id": rid,
            "kind": "required",
            "label": entry.pop("label", "missing_thanks"),
            "scenario": entry.pop("scenario", "general_enquiry"),
            "severity": entry.pop("severity", "medium"),
            "requires": [re.escape(p) for p in phrases] + patterns,
            "message": entry.pop("message", f"缺少本公司要求的用语：{'/'.join(phrases)}"),
            "source": entry.pop("source", path),
            "binding": True,
            **entry,
        }


def _merge_emotion(base: Dict[str, Any], overlay: Any, problems: Problems) -> Dict[str, Any]:
    """Lists of lexicon files and inline words are extended per label; other fields replaced."""
    if not isinstance(overlay, Mapping):
        problems.add(f"emotion must be a mapping, got {type(overlay).__name__}")
        return base
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if key in ("lexicons", "words") and isinstance(value, Mapping):
            merged = dict(out.get(key) or {})
            for label, items in value.items():
                old = merged.get(label)
                if key == "lexicons" and isinstance(old, list) and isinstance(items, list):
                    merged[label] = old + items
                elif key == "words" and isinstance(old, Mapping) and isinstance(items, Mapping):
                    merged[label] = {**old, **items}
                else:
                    merged[label] = items
            out[key] = merged
        else:
            out[key] = value
    return out


def _merge_call(base: Any, overlay: Any, path: str, problems: Problems) -> Any:
    """A ``call:`` overlay merged field by field into the base thresholds (sdk.audit's defaults)."""
    try:
        from ..audit.config import DEFAULT_CALL_YAML, AuditConfigError, merge_call
    except ImportError:  # no audit package: keep the section as given, validated as a mapping
        return overlay
    if base is None:
        base = read_yaml(DEFAULT_CALL_YAML).get("call") or {}
    try:
        return merge_call(base, overlay, path)
    except AuditConfigError as exc:
        problems.add(str(exc).removeprefix(f"{path}: "))
        return base
