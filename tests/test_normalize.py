"""Normaliser: width, traditional→simplified, whitespace, fillers, stutters — and offsets."""
import pytest

from sdk.normalize import normalize, split_events, strip_events, to_simplified_halfwidth


@pytest.mark.parametrize("raw, expected", [
    ("您好，请问有什么可以帮您？", "您好,请问有什么可以帮您?"),          # full-width punctuation
    ("ＡＢＣ１２３", "abc123"),                                         # full-width letters/digits, lower-cased
    ("對不起，讓您久等了", "对不起,让您久等了"),                          # traditional → simplified
    ("您 好 ，  请 稍 等", "您好,请稍等"),                                # whitespace (incl. ideographic space)
    ("您好\u3000请问", "您好请问"),
    ("嗯，好的，呃，我帮您查一下", ",好的,,我帮您查一下"),                 # ASR fillers dropped
    ("我我我帮您查", "我我帮您查"),                                      # stutter: at most two copies
    ("喂喂喂喂", "喂喂"),
    ("金额不对", "金额不对"),                                            # 额 inside a word is kept
    ("额，这个金额", ",这个金额"),                                        # standalone 额 is a filler
    ("88886666", "88886666"),                                           # digits never collapse
    ("嗯。", "嗯."),                                                     # filler-only reply stays visible
    ("哦", "哦"),
    ("说话啊", "说话啊"),                                                # sentence particle kept
])
def test_normalized_text(raw, expected):
    assert normalize(raw).text == expected


@pytest.mark.parametrize("raw", [
    "嗯，好的，呃，我帮您查一下", "我我我我帮 您 查", "對不起，讓您久等了", "额，这个金额不对啊",
    "喂喂喂喂，说话呀！", "  您好 ，请问  ", "嗯嗯嗯", "ＡＢＣ　哦，好的",
])
def test_offsets_point_into_the_original(raw):
    norm = normalize(raw)
    assert len(norm.offsets) == len(norm.text)
    assert list(norm.offsets) == sorted(norm.offsets)
    for i, ch in enumerate(norm.text):
        assert to_simplified_halfwidth(raw[norm.offsets[i]]) == ch
    # a span's first and last original characters are the normalised ones
    for start in range(len(norm.text)):
        for end in range(start + 1, len(norm.text) + 1):
            s, e = norm.span(start, end)
            assert 0 <= s < e <= len(raw)
            assert to_simplified_halfwidth(raw[s]) == norm.text[start]
            assert to_simplified_halfwidth(raw[e - 1]) == norm.text[end - 1]


def test_span_rejects_empty():
    with pytest.raises(ValueError):
        normalize("您好").span(1, 1)


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError):
        normalize(123)


def test_strip_events():
    events, words = strip_events("[客户已等待约2分钟] 喂？还有人吗？【通话保持中】")
    assert events == "[客户已等待约2分钟]【通话保持中】"
    assert words == "喂？还有人吗？"
    assert strip_events("没有事件") == ("", "没有事件")


@pytest.mark.parametrize("raw", [
    "İİİ喂，说话呀！",                 # "İ".lower() is two characters
    "ＡＢＣİ对不起İ讓您久等了",
    "您好\udca7请问\udcff有什么",      # lone surrogates (surrogateescape-decoded bytes)
    "\U0001f600表情İ\u0301组合",        # astral + combining characters
])
def test_same_length_and_aligned(raw):
    simple = to_simplified_halfwidth(raw)
    assert len(simple) == len(raw)
    for i, ch in enumerate(raw):
        assert simple[i] == to_simplified_halfwidth(ch), (i, ch, simple[i])
    norm = normalize(raw)
    for i, ch in enumerate(norm.text):
        assert ch == simple[norm.offsets[i]]


def test_phrase_level_traditional_stays_aligned():
    # OpenCC's phrase converter picks the candidate per phrase (乾隆 keeps 乾, 乾燥 becomes 干燥)
    assert to_simplified_halfwidth("乾隆年间很乾燥，頭髮") == "乾隆年间很干燥,头发"


def test_every_character_maps_to_one():
    import sys
    chars = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF or c % 97 == 0)
    assert len(to_simplified_halfwidth(chars)) == len(chars)


def test_dotted_capital_i_keeps_later_spans():
    import sdk
    utterance = "İİİ喂，说话呀！"
    result = sdk.Checker(engine="rules").check(utterance)
    spans = {f.rule_id: (f.start, f.end, f.text) for f in result.findings if f.start is not None}
    assert spans["ban.wei_impatient"] == (3, 4, "喂")
    assert spans["ban.urge_speak"][2] == "说话呀"


@pytest.mark.parametrize("context", [
    "[客户已等待约2分钟] 喂？还有人吗？【通话保持中】", "没有事件", "  [a]  ", "[x]你好[y]在吗[z]", "", "]][[你好]",
    "\u3000[等待]\u3000太慢了\u3000",
])
def test_split_events_maps_words_to_the_context(context):
    events, words, offsets = split_events(context)
    assert (events, words) == strip_events(context)
    assert len(offsets) == len(words)
    assert list(offsets) == sorted(set(offsets))
    for i, ch in enumerate(words):
        assert ch == context[offsets[i]] or (ch == " " and context[offsets[i]] in "[【［")
