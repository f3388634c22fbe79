"""One result builder: provenance (decided_by) and binding rules under every engine."""
from pathlib import Path

import pytest
from conftest import FixedEngine, make_finding, make_verdict

import sdk
from sdk.engines.base import CheckInput
from sdk.engines.hybrid import HybridEngine
from sdk.result_builder import build_check_result

FIXTURES = Path(__file__).parent / "fixtures" / "rulebooks"
COMPANY = FIXTURES / "overlay_company.yaml"  # the README's company overlay


@pytest.mark.parametrize("policy, rules_label, by, engine", [
    ("model", "non_compliant", "model", "onnx"),
    ("forbidden_any", "non_compliant", "rule_override", "rules"),
    ("blend_0.7", "standard", "model", "onnx"),
])
def test_hybrid_results_say_how_they_were_decided(policy, rules_label, by, engine):
    model = FixedEngine("onnx", make_verdict("standard", "onnx"))
    rules = FixedEngine("rules", make_verdict(rules_label, "rules", [make_finding(rules_label, "high")]))
    [r] = HybridEngine(model, rules, policy=policy).check_batch([CheckInput("不行")])
    assert r.engine == engine
    assert r.decided_by.to_dict() == {"by": by, "policy": policy, "fell_back": False, "rules": []}


@pytest.mark.parametrize("model_label, binding_label, want", [
    ("standard", "missing_thanks", "missing_thanks"),       # the binding rule decides
    ("missing_thanks", "missing_apology", "missing_apology"),
    ("non_compliant", "missing_thanks", "non_compliant"),   # a higher-priority fault still stands (LABELS.md)
])
def test_binding_findings_decide_over_the_model(model_label, binding_label, want):
    finding = make_finding(binding_label, "medium", start=None, binding=True)
    verdict = make_verdict(model_label, "onnx", [finding])
    r = build_check_result(CheckInput("好的"), verdict, None)
    assert r.label == want and max(r.scores, key=r.scores.get) == want
    overridden = want != model_label
    assert (r.engine, r.decided_by.by) == (("rules", "rule_override") if overridden else ("onnx", "model"))
    assert r.decided_by.rules == ((finding.rule_id,) if overridden else ())


def test_non_binding_findings_do_not_decide():
    verdict = make_verdict("standard", "onnx", [make_finding("missing_thanks", "medium", start=None)])
    assert build_check_result(CheckInput("好的"), verdict, None).label == "standard"


@pytest.mark.parametrize("engine", ["auto", "rules"])
def test_readme_company_overlay_binds_under_every_engine(engine):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checker = sdk.Checker(engine=engine, rulebook=COMPANY)
    r = checker.check("感谢您的来电，再见！", context="没有了")
    assert r.label == "missing_thanks"
    assert any(f.rule_id == "custom.required.closing_slogan" and f.binding for f in r.findings)
    assert checker.check("感谢您的来电，祝您用电愉快，再见！", context="没有了").label == "standard"


def test_readme_company_overlay_binds_over_the_model():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    from sdk.model_manifest import default_model_dir

    if default_model_dir() is None:
        pytest.skip("no shipped default model")
    checker = sdk.Checker(engine="onnx", rulebook=COMPANY)
    r = checker.check("感谢您的来电，再见！", context="没有了")
    assert r.label == "missing_thanks"
    assert r.decided_by.by in ("rule_override", "model") and r.decided_by.policy is not None


def test_default_rules_are_not_binding_and_fall_back_is_recorded(tmp_path):
    with pytest.warns(RuntimeWarning):
        checker = sdk.Checker(engine="auto", model_dir=tmp_path / "none")
    r = checker.check("喂，说话呀！")
    assert r.decided_by.to_dict() == {"by": "rules", "policy": None, "fell_back": True, "rules": []}
    assert not any(f.binding for f in r.findings)
    assert checker.emotion("太好了").decided_by.fell_back is True
    assert sdk.Checker(engine="rules").emotion("太好了").decided_by.to_dict()["by"] == "rules"
