"""Fault injection for rulebook overlays: every broken overlay raises RulebookError naming the file and the
field (never AttributeError, TypeError, UnicodeDecodeError, re.error or a hang), and valid overlays mean
what they say (phrases normalised like the text, no silent id collisions, linear-time user regexes)."""
from __future__ import annotations

import time

import pytest

import sdk
from sdk.rulebook import RulebookError, load_rulebook

_RULE = "kind: forbidden, label: non_compliant, scenario: general_enquiry, message: m, source: s"

# (case id, overlay text, words the message must contain besides the file name)
BROKEN = [
    ("not_yaml", "forbidden_words: [没辙", ["YAML"]),
    ("tab_indent", "forbidden_words:\n\t- 没辙\n", ["YAML"]),
    ("top_list", "- 没辙\n", ["top level"]),
    ("top_scalar", "没辙\n", ["top level"]),
    ("empty", "", ["top level"]),
    ("int_keys", "1: 2\nforbidden_words: [没辙]\n", ["unknown overlay key"]),
    ("unknown_key", "forbiden_words: [没辙]\n", ["forbiden_words"]),
    ("python_tag", "forbidden_words: !!python/object/apply:os.system [echo hi]\n", ["YAML"]),
    ("duplicate_key", "forbidden_words: [没辙]\nforbidden_words: [整不了]\n", ["forbidden_words", "duplicate"]),
    ("duplicate_nested_key", "overrides:\n  ban.slang: {severity: low, severity: high}\n", ["severity", "duplicate"]),
    ("alias_bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                   "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nforbidden_words: *g\n", ["alias"]),
    ("deep_nesting", "forbidden_words: " + "[" * 5000 + "]" * 5000 + "\n", ["nested deeper"]),
    ("forbidden_str", "forbidden_words: 没辙\n", ["forbidden_words"]),
    ("forbidden_map", "forbidden_words: {没辙: 1}\n", ["forbidden_words"]),
    ("forbidden_int_item", "forbidden_words: [123]\n", ["forbidden_words[0]"]),
    ("forbidden_null_item", "forbidden_words: [null]\n", ["forbidden_words[0]"]),
    ("forbidden_nested_list", "forbidden_words: [[没辙]]\n", ["forbidden_words[0]"]),
    ("forbidden_phrase_int", "forbidden_words: [{phrase: 123}]\n", ["phrase"]),
    ("forbidden_phrase_list", "forbidden_words: [{phrase: [没辙]}]\n", ["phrase"]),
    ("forbidden_no_phrase", "forbidden_words: [{severity: high}]\n", ["phrase"]),
    ("forbidden_blank_phrase", "forbidden_words: ['  ']\n", ["forbidden_words[0]"]),
    ("forbidden_bad_severity", "forbidden_words: [{phrase: 没辙, severity: urgent}]\n", ["severity"]),
    ("forbidden_unknown_field", "forbidden_words: [{phrase: 没辙, sevrity: high}]\n", ["sevrity"]),
    ("forbidden_bad_regex", "forbidden_words: [{phrase: 没辙, patterns: ['(a']}]\n", ["patterns"]),
    ("forbidden_patterns_str", "forbidden_words: [{phrase: 没辙, patterns: 'a+'}]\n", ["patterns"]),
    ("forbidden_id_list", "forbidden_words: [{id: [x], phrase: 没辙}]\n", ["id"]),
    ("forbidden_replaces_default", "forbidden_words: [{id: ban.slang, phrase: 没辙}]\n", ["ban.slang"]),
    ("forbidden_lookbehind", "forbidden_words: [{phrase: 没辙, patterns: ['(?<!不)行']}]\n", ["patterns"]),
    ("forbidden_backref", "forbidden_words: [{phrase: 没辙, patterns: ['(哈)\\1']}]\n", ["patterns"]),
    ("required_str", "required_phrases: 祝您愉快\n", ["required_phrases"]),
    ("required_item_str", "required_phrases: [祝您愉快]\n", ["required_phrases[0]"]),
    ("required_phrases_str", "required_phrases: [{phrases: 祝您愉快, when_cues: [closing]}]\n", ["phrases"]),
    ("required_phrases_int", "required_phrases: [{phrases: [1], when_cues: [closing]}]\n", ["phrases"]),
    ("required_no_phrases", "required_phrases: [{when_cues: [closing]}]\n", ["requires"]),
    ("required_no_trigger", "required_phrases: [{phrases: [祝您愉快]}]\n", ["when_cues"]),
    ("required_unknown_cue", "required_phrases: [{phrases: [祝您愉快], when_cues: [nowhere]}]\n", ["when_cues"]),
    ("required_label_standard", "required_phrases: [{phrases: [祝您愉快], when_cues: [closing], label: standard}]\n",
     ["label"]),
    ("required_when_cues_str", "required_phrases: [{phrases: [祝您愉快], when_cues: closing}]\n", ["when_cues"]),
    ("lexicons_list", "lexicons: [apology]\n", ["lexicons"]),
    ("lexicons_str", "lexicons: apology\n", ["lexicons"]),
    ("lexicon_words_str", "lexicons: {apology: 万分抱歉}\n", ["lexicons"]),
    ("lexicon_words_int", "lexicons: {apology: [1, 2]}\n", ["lexicons"]),
    ("lexicon_words_null", "lexicons: {apology: [null]}\n", ["lexicons"]),
    ("lexicon_bad_name", "lexicons: {[a]: [b]}\n", ["lexicons"]),
    ("cues_str", "cues: wait\n", ["cues"]),
    ("cues_int_item", "cues: [1]\n", ["cue"]),
    ("cue_no_patterns", "cues: [{id: custom.cue}]\n", ["custom.cue"]),
    ("cue_bad_regex", "cues: [{id: custom.cue, patterns: ['[']}]\n", ["patterns"]),
    ("cue_id_list", "cues: [{id: [1], phrases: [a]}]\n", ["id"]),
    ("rules_str", "rules: custom\n", ["rules"]),
    ("rules_missing_fields", "rules: [{id: custom.x}]\n", ["custom.x"]),
    ("rules_id_list", f"rules: [{{id: [1], phrases: [a], {_RULE}}}]\n", ["id"]),
    ("rules_id_dict", f"rules: [{{id: {{a: 1}}, phrases: [a], {_RULE}}}]\n", ["id"]),
    ("rules_phrases_str", f"rules: [{{id: custom.x, phrases: 没辙, {_RULE}}}]\n", ["phrases"]),
    ("rules_redos", f"rules: [{{id: custom.x, patterns: ['(?<=a)b'], {_RULE}}}]\n", ["patterns"]),
    ("overrides_str", "overrides: ban.slang\n", ["overrides"]),
    ("overrides_list", "overrides: [ban.slang]\n", ["overrides"]),
    ("overrides_unknown_rule", "overrides: {ban.nope: {severity: low}}\n", ["ban.nope"]),
    ("overrides_not_mapping", "overrides: {ban.slang: low}\n", ["ban.slang"]),
    ("overrides_bad_severity", "overrides: {ban.slang: {severity: urgent}}\n", ["severity"]),
    ("overrides_unknown_field", "overrides: {ban.slang: {sevrity: low}}\n", ["sevrity"]),
    ("overrides_bad_regex", "overrides: {ban.slang: {patterns: ['(']}}\n", ["patterns"]),
    ("overrides_id", "overrides: {ban.slang: {id: ban.other}}\n", ["id"]),
    ("overrides_key_list", "overrides: {[a]: {severity: low}}\n", ["overrides"]),
    ("disable_str", "disable: ban.slang\n", ["disable"]),
    ("disable_unknown", "disable: [ban.nope]\n", ["ban.nope"]),
    ("disable_list_item", "disable: [[ban.slang]]\n", ["disable"]),
    ("disable_map", "disable: {ban.slang: true}\n", ["disable"]),
    ("company_int", "company_name: 123\n", ["company_name"]),
    ("company_list", "company_name: [星河]\n", ["company_name"]),
    ("version_bad", "version: 99\n", ["version"]),
    ("version_str", "version: two\n", ["version"]),
    ("emotion_str", "emotion: angry\n", ["emotion"]),
    ("emotion_weight_str", "emotion: {words: {angry: {气死: high}}}\n", ["emotion"]),
    ("emotion_bad_label", "emotion: {words: {furious: {气死: 1}}}\n", ["furious"]),
    ("emotion_negators", "emotion: {negators: '('}\n", ["negators"]),
    ("emotion_polite_request", "emotion: {polite_request: '('}\n", ["polite_request"]),
    ("emotion_words_list", "emotion: {words: {angry: [气死]}}\n", ["emotion"]),
]


def _write(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name, text, words", BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_overlay_raises_rulebook_error_naming_file_and_field(tmp_path, name, text, words):
    path = _write(tmp_path, name, text)
    load_rulebook()  # the default is compiled once per process: not part of the time below
    start = time.perf_counter()
    with pytest.raises(RulebookError) as info:
        load_rulebook([path])
    assert time.perf_counter() - start < 20  # an alias bomb took a minute and 2.3 GB
    message = str(info.value)
    assert path.name in message, message
    for word in words:
        assert word in message, (word, message)
    assert len(message) < 5000


@pytest.mark.parametrize("data", [
    "forbidden_words: [没辙]\n".encode("gbk"),                 # GBK, not UTF-8
    b"forbidden_words: [\xff\xfe]\n",                          # not UTF-8 at all
    "\ufeffforbidden_words: [没辙]\n".encode("utf-16"),       # UTF-16
])
def test_overlay_that_is_not_utf8(tmp_path, data):
    path = _write(tmp_path, "encoding", data)
    with pytest.raises(RulebookError) as info:
        load_rulebook([path])
    assert path.name in str(info.value) and "UTF-8" in str(info.value)


def test_utf8_bom_is_fine(tmp_path):
    path = _write(tmp_path, "bom", "\ufeffforbidden_words: [没辙]\n".encode("utf-8"))
    assert any(r.id.startswith("custom.forbidden") for r in load_rulebook([path]).rules)


def test_missing_overlay_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_rulebook([tmp_path / "nope.yaml"])


def test_directory_instead_of_file(tmp_path):
    with pytest.raises((FileNotFoundError, RulebookError)):
        load_rulebook([tmp_path])


def test_every_problem_of_a_broken_overlay_is_reported(tmp_path):
    path = _write(tmp_path, "many", "forbidden_words: [123, {phrase: 没辙, severity: urgent}]\n"
                                     "overrides: {ban.nope: {}}\ndisable: ban.slang\n")
    with pytest.raises(RulebookError) as info:
        load_rulebook([path])
    assert len(info.value.problems) >= 4, info.value.problems


# ---------------------------------------------------------------- valid overlays mean what they say
@pytest.fixture()
def checker_with(tmp_path):
    def make(*texts):
        paths = [_write(tmp_path, f"overlay{i}", t) for i, t in enumerate(texts)]
        return sdk.Checker(engine="rules", rulebook=[str(p) for p in paths])
    return make


@pytest.mark.parametrize("phrase, utterance", [
    ("WiFi坏了", "您家wifi坏了吧"),               # upper case in the overlay
    ("wifi坏了", "您家ＷｉＦｉ坏了吧"),           # full width in the text
    ("沒辦法", "这个没办法处理"),                  # traditional in the overlay
    ("没办法", "這個沒辦法處理"),                  # traditional in the text
    ("没 办 法", "这个没办法处理"),                # spaces in the overlay
    ("没办法", "这个没 办 法处理"),                # spaces in the text
    ("ＡＢＣ套餐", "您的abc套餐到期了"),           # full width in the overlay
])
def test_overlay_phrases_are_normalised_like_the_text(checker_with, phrase, utterance):
    checker = checker_with(f"forbidden_words: ['{phrase}']\n")
    hits = [f for f in checker.check(utterance).findings if f.rule_id.startswith("custom.")]
    assert hits, f"{phrase!r} did not match {utterance!r}"
    assert utterance[hits[0].start:hits[0].end] == hits[0].text


def test_required_phrases_are_normalised_too(checker_with):
    checker = checker_with("required_phrases: [{phrases: [祝您用電愉快], when_cues: [closing], label: missing_thanks}]\n")
    ok = checker.check("好的，祝您用电愉快，再见", context="好的谢谢，没别的事了")
    assert not [f for f in ok.findings if f.rule_id.startswith("custom.")]


def test_forbidden_words_string_is_refused_not_split(checker_with):
    with pytest.raises(RulebookError):
        checker_with("forbidden_words: 没辙\n")


def test_two_overlays_forbidden_words_do_not_collide(checker_with):
    checker = checker_with("forbidden_words: [没辙]\n", "forbidden_words: [整不了]\n")
    assert checker.check("这个我也没辙").label == "non_compliant"
    assert checker.check("这个整不了").label == "non_compliant"
    ids = [r.id for r in checker._engine.rulebook.rules if r.id.startswith("custom.")]
    assert len(ids) == len(set(ids)) == 2


def test_a_custom_entry_cannot_silently_replace_a_default_rule(checker_with):
    with pytest.raises(RulebookError, match="ban.slang"):
        checker_with("required_phrases: [{id: ban.slang, phrases: [您好], when_cues: [greeting]}]\n")


@pytest.mark.parametrize("pattern", ["(a|aa)+$", "(x+x+)+y", "(.*a){20}", "(\\w+\\s?)+$"])
def test_user_regexes_run_in_linear_time(checker_with, pattern):
    checker = checker_with(f"forbidden_words: [{{phrase: 没辙, patterns: ['{pattern}']}}]\n")
    start = time.perf_counter()
    checker.check("a" * 1990 + "!")
    checker.check("x" * 1990)
    assert time.perf_counter() - start < 3.0  # backtracking: seconds, growing exponentially with the text


def test_user_regexes_still_match(checker_with):
    checker = checker_with("forbidden_words: [{phrase: 没辙, patterns: ['等(一)?下(再说|再讲)']}]\n")
    r = checker.check("您等下再说吧")
    hit = [f for f in r.findings if f.rule_id.startswith("custom.")]
    assert hit and hit[0].text == "等下再说"
    # lone surrogates in the text do not break a user regex
    assert checker.check("\udca7您等下再说吧").label == "non_compliant"
