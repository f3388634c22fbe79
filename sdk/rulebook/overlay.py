"""Reading rulebook YAML and layering a QA team's overlay on the raw default (before validation).

Rules an overlay adds (``rules``, ``forbidden_words``, ``required_phrases``) are the team's own and
bind by default (``binding: true``): they decide the label under every engine.

Everything an overlay says is checked for its shape here (each problem naming the file, the entry
and the field), and made to mean what its author meant: phrases and lexicon words are normalised
like the text they are matched against (case, width, traditional characters, spaces), patterns'
literal characters too, and every pattern an overlay brings is marked as the user's, so it is
compiled with a linear-time engine (``linear_regex``). Entries carry the file they came from
(``ORIGIN``), so later problems name it.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ..bounded_repr import short_repr
from ..safe_yaml import YamlError, load_yaml_file
from .schema import OVERLAY_KEYS, Problems, RulebookError

# Private keys an overlay puts on the raw rules/cues it adds or changes; compile pops them.
ORIGIN = "_origin"  # the file that added or last changed the entry
USER_FIELDS = "_user_fields"  # the fields whose patterns a user wrote ("*": all)
PATTERN_FIELDS = ("patterns", "not_before", "not_after", "unless", "when_utterance", "requires")
_LEXICON_NAME = re.compile(r"^[a-z0-9_]+$")


def read_yaml(path: str) -> Dict[str, Any]:
    """A rulebook file as a mapping; RulebookError naming the file for anything else."""
    try:
        data = load_yaml_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"rulebook file not found: {path}") from None
    except YamlError as exc:
        raise RulebookError([str(exc)]) from None
    except OSError as exc:  # a directory, no permission, ...
        raise RulebookError([f"{path}: cannot read the file: {exc.strerror or exc}"]) from None
    if not isinstance(data, dict):
        raise RulebookError([f"{path}: top level must be a mapping, got {type(data).__name__}"])
    return data


def apply_overlay(base: Dict[str, Any], overlay: Mapping[str, Any], path: str, problems: Problems) -> Dict[str, Any]:
    """``base`` with one overlay merged in; each problem of the overlay is added to ``problems``
    (naming ``path``) and the entry skipped, so one load reports them all."""
    problems = _Named(problems, path)
    unknown = [k for k in overlay if not isinstance(k, str) or k not in OVERLAY_KEYS]
    if unknown:
        names = sorted(str(k)[:40] for k in unknown)[:10]
        problems.add(f"unknown overlay key(s) {names}; expected any of {list(OVERLAY_KEYS)}")
    out = copy.deepcopy(base)
    version = overlay.get("version")
    if version is not None and (isinstance(version, bool) or version not in (1, 2)):
        problems.add(f"field 'version' must be 1 or 2, got {short_repr(version)}")
    if "company_name" in overlay:
        name = overlay["company_name"]
        if name is not None and (not isinstance(name, str) or not name.strip()):
            problems.add(f"field 'company_name' must be a non-empty str or null, got {short_repr(name)}")
        else:
            out["company_name"] = name
    _merge_lexicons(out, overlay.get("lexicons"), problems)
    _merge_cues(out, overlay.get("cues"), path, problems)
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


# ---------------------------------------------------------------- normalising what a user wrote
def _phrase(value: Any) -> Any:
    """A phrase normalised like the text; non-str values are left for validation to report."""
    from ..normalize import normalize

    return normalize(value).text if isinstance(value, str) else value


def _user_entry(entry: Dict[str, Any], path: str, fields: Iterable[str] = ("*",)) -> Dict[str, Any]:
    """``entry`` with its phrases and patterns normalised and marked as the user's (from ``path``)."""
    from ..normalize import normalize_pattern

    fields = list(fields)
    out = dict(entry)
    for key in ("phrases",):
        if (key in out and "*" in fields or key in fields) and isinstance(out.get(key), list):
            out[key] = [_phrase(p) for p in out[key]]
    for key in PATTERN_FIELDS:
        if (key in out and "*" in fields or key in fields) and isinstance(out.get(key), list):
            out[key] = [normalize_pattern(p) if isinstance(p, str) else p for p in out[key]]
    marked = set(out.get(USER_FIELDS) or ()) | set(fields)
    out[USER_FIELDS] = sorted(marked)
    out[ORIGIN] = path
    return out


def _str_list(value: Any, where: str, problems: Problems, what: str = "phrases") -> Optional[List[str]]:
    """``value`` if it is a list of non-blank str, else None with a problem naming ``where``."""
    if not isinstance(value, list):
        problems.add(f"{where} must be a list of {what}, got {short_repr(value)}")
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.add(f"{where}[{i}] must be a non-empty str, got {short_repr(item)}")
            return None
    return value


# ---------------------------------------------------------------- sections
def _merge_lexicons(out: Dict[str, Any], lexicons: Any, problems: Problems) -> None:
    if lexicons is None:
        return
    if not isinstance(lexicons, Mapping):
        problems.add(f"field 'lexicons' must be a mapping of name: [phrases], got {short_repr(lexicons)}")
        return
    for name, words in lexicons.items():
        if not isinstance(name, str) or not _LEXICON_NAME.match(name):
            problems.add(f"field 'lexicons': lexicon name {short_repr(name)} must be lower-case letters, digits, _")
            continue
        if _str_list(words, f"field 'lexicons.{name}'", problems) is None:
            continue
        merged = out.setdefault("lexicons", {})
        merged[name] = list(merged.get(name) or []) + [_phrase(w) for w in words]


def _merge_cues(out: Dict[str, Any], cues: Any, path: str, problems: Problems) -> None:
    if cues is None:
        return
    if not isinstance(cues, list):
        problems.add(f"field 'cues' must be a list of cue mappings, got {short_repr(cues)}")
        return
    merged = {c.get("id"): c for c in out.get("cues", []) if isinstance(c, dict)}
    seen = set()
    for i, cue in enumerate(cues):
        if not isinstance(cue, dict) or not isinstance(cue.get("id"), str):
            problems.add(f"cues[{i}] must be a mapping with a str 'id', got {short_repr(cue)}")
            continue
        cid = cue["id"]
        if cid in seen:
            problems.add(f"cue {cid!r} field 'id': duplicate cue id in this overlay")
            continue
        seen.add(cid)
        merged[cid] = _user_entry(cue, path)  # an existing id is replaced: that is how an overlay changes a cue
    out["cues"] = list(merged.values())


def _merge_rules(rules: Dict[Any, Any], overlay: Mapping[str, Any], path: str, problems: Problems) -> None:
    existing = set(rules)  # ids from the base and earlier overlays
    raw_rules = overlay.get("rules")
    if raw_rules is not None and not isinstance(raw_rules, list):
        problems.add(f"field 'rules' must be a list of rule mappings, got {short_repr(raw_rules)}")
        raw_rules = None
    seen = set()
    for i, rule in enumerate(raw_rules or []):
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
            problems.add(f"rules[{i}] needs a str 'id', got {short_repr(rule)}")
            continue
        if rule["id"] in seen:
            problems.add(f"rule {rule['id']!r} field 'id': duplicate rule id in this overlay")
            continue
        seen.add(rule["id"])
        # an existing id is replaced: that is how an overlay rewrites a rule whole; a team's own rule binds
        rules[rule["id"]] = _user_entry({"binding": True, **rule}, path)
    _apply_overrides(rules, overlay.get("overrides"), path, problems)
    _apply_disable(rules, overlay.get("disable"), problems)
    _add_forbidden_words(rules, existing, overlay.get("forbidden_words"), path, problems)
    _add_required_phrases(rules, existing, overlay.get("required_phrases"), path, problems)


def _apply_overrides(rules: Dict[Any, Any], overrides: Any, path: str, problems: Problems) -> None:
    if overrides is None:
        return
    if not isinstance(overrides, Mapping):
        problems.add(f"field 'overrides' must be a mapping of rule id: {{field: value}}, got {short_repr(overrides)}")
        return
    for rule_id, changes in overrides.items():
        if not isinstance(rule_id, str) or rule_id not in rules:
            known = sorted(str(k) for k in rules)[:5]
            problems.add(f"overrides.{short_repr(rule_id, 40)}: no such rule; known ids start {known}…")
        elif not isinstance(changes, Mapping):
            problems.add(f"overrides.{rule_id} must be a mapping of field: value, got {short_repr(changes)}")
        elif "id" in changes:
            problems.add(f"overrides.{rule_id} field 'id': an override cannot rename a rule")
        elif any(not isinstance(k, str) for k in changes):
            problems.add(f"overrides.{rule_id}: field names must be str, got {short_repr(list(changes))}")
        else:
            rules[rule_id] = _user_entry({**rules[rule_id], **changes}, path, fields=list(changes))


def _apply_disable(rules: Dict[Any, Any], disable: Any, problems: Problems) -> None:
    if disable is None:
        return
    if _str_list(disable, "field 'disable'", problems, what="rule ids") is None:
        return
    for rule_id in disable:
        if rule_id not in rules:
            problems.add(f"disable: no rule {rule_id!r}")
        else:
            rules[rule_id] = {**rules[rule_id], "enabled": False}


def _custom_id(rules: Dict[Any, Any], kind: str) -> str:
    """The next free ``custom.<kind>.N``: overlays loaded together never collide."""
    n = 1
    while f"custom.{kind}.{n}" in rules:
        n += 1
    return f"custom.{kind}.{n}"


def _entry_id(
    entry: Dict[str, Any], rules: Dict[Any, Any], existing: Iterable[Any], kind: str, where: str, problems: Problems
) -> Optional[str]:
    rid = entry.pop("id", None)
    if rid is None:
        return _custom_id(rules, kind)
    if not isinstance(rid, str):
        problems.add(f"{where} field 'id' must be a str, got {short_repr(rid)}")
        return None
    if rid in existing or rid in rules:
        problems.add(
            f"{where} field 'id': {rid!r} is already a rule; change it with 'overrides:' or remove it "
            "with 'disable:' (an entry never silently replaces another rule)"
        )
        return None
    return rid


def _add_forbidden_words(
    rules: Dict[Any, Any], existing: Iterable[Any], items: Any, path: str, problems: Problems
) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        problems.add(
            f"field 'forbidden_words' must be a list of phrases (or mappings with 'phrase'), got {short_repr(items)}"
        )
        return
    existing = set(existing)
    for i, item in enumerate(items):
        where = f"forbidden_words[{i}]"
        if isinstance(item, str):
            item = {"phrase": item}
        if not isinstance(item, dict):
            problems.add(f"{where} must be a phrase or a mapping with 'phrase', got {short_repr(item)}")
            continue
        entry = dict(item)
        phrase = entry.pop("phrase", None)
        if phrase is not None and (not isinstance(phrase, str) or not phrase.strip()):
            problems.add(f"{where} field 'phrase' must be a non-empty str, got {short_repr(phrase)}")
            continue
        rid = _entry_id(entry, rules, existing, "forbidden", where, problems)
        if rid is None:
            continue
        rules[rid] = _user_entry(
            {
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
            },
            path,
        )


def _add_required_phrases(
    rules: Dict[Any, Any], existing: Iterable[Any], items: Any, path: str, problems: Problems
) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        problems.add(f"field 'required_phrases' must be a list of mappings with 'phrases', got {short_repr(items)}")
        return
    existing = set(existing)
    for i, item in enumerate(items):
        where = f"required_phrases[{i}]"
        if not isinstance(item, dict):
            problems.add(f"{where} must be a mapping with 'phrases', got {short_repr(item)}")
            continue
        entry = dict(item)
        phrases = _str_list(entry.pop("phrases", []), f"{where} field 'phrases'", problems)
        patterns = entry.pop("patterns", [])
        if phrases is None or (patterns is not None and not isinstance(patterns, list)):
            if phrases is not None:
                problems.add(f"{where} field 'patterns' must be a list of regexes, got {short_repr(patterns)}")
            continue
        rid = _entry_id(entry, rules, existing, "required", where, problems)
        if rid is None:
            continue
        rules[rid] = _user_entry(
            {
                "id": rid,
                "kind": "required",
                "label": entry.pop("label", "missing_thanks"),
                "scenario": entry.pop("scenario", "general_enquiry"),
                "severity": entry.pop("severity", "medium"),
                "requires": [re.escape(_phrase(p)) for p in phrases] + list(patterns or []),
                "message": entry.pop("message", f"缺少本公司要求的用语：{'/'.join(phrases)}"),
                "source": entry.pop("source", path),
                "binding": True,
                **entry,
            },
            path,
        )


def _merge_emotion(base: Dict[str, Any], overlay: Any, problems: Problems) -> Dict[str, Any]:
    """Lists of lexicon files and inline words are extended per label; other fields replaced."""
    if not isinstance(overlay, Mapping):
        problems.add(f"field 'emotion' must be a mapping, got {short_repr(overlay)}")
        return base
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if key == "words" and isinstance(value, Mapping):
            value = {
                label: ({_phrase(w): weight for w, weight in items.items()} if isinstance(items, Mapping) else items)
                for label, items in value.items()
            }
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
    user = [f for f in ("negators", "polite_request") if f in overlay]
    if user:
        out[USER_FIELDS] = user
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
