"""The HTML report: one self-contained file (inline CSS, inline SVG charts, a few lines of
inline script, no network), rendered with Jinja2 with autoescaping on (transcripts are
untrusted text).

Batch overview: score distribution, pass rate, findings by check and by severity, a table per
agent (when calls carry ``agent_id``), the customer's emotion at call end. Then one section per
call: a timeline of turns with holds and silences, the findings on their turns, the suggested wording.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections import Counter, defaultdict
from html import escape
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

SEVERITIES = ("high", "medium", "low")
SEVERITY_ZH = {"high": "严重", "medium": "一般", "low": "轻微"}
SEVERITY_COLOR = {"high": "#c62828", "medium": "#ef6c00", "low": "#9e9d24"}
EMOTIONS = ("satisfied", "neutral", "anxious", "dissatisfied", "angry")
EMOTION_ZH = {"neutral": "平静", "satisfied": "满意", "anxious": "焦急", "dissatisfied": "不满", "angry": "愤怒"}
EMOTION_COLOR = {
    "satisfied": "#2e7d32",
    "neutral": "#78909c",
    "anxious": "#f9a825",
    "dissatisfied": "#ef6c00",
    "angry": "#c62828",
}
LABEL_ZH = {"standard": "规范", "non_compliant": "不规范", "missing_apology": "缺少致歉", "missing_thanks": "缺少致谢"}
ROLE_ZH = {"agent": "客服", "customer": "客户", "event": "事件"}
EVENT_ZH = {
    "hold": "保持",
    "mute": "静音",
    "transfer": "转接",
    "agent_hangup": "坐席挂机",
    "customer_hangup": "客户挂机",
}


def read_audits(path: str) -> Tuple[List[Dict[str, Any]], List[Tuple[int, str]]]:
    """The rows of an audits JSONL, and (line, why) for lines that are not audits or error records."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"audits file not found: {path}")
    rows, bad = [], []
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append((n, f"not valid JSON: {exc.msg}"))
                continue
            if not isinstance(row, dict) or not ("error" in row or {"score", "passed", "findings"} <= set(row)):
                bad.append((n, "not an audit record (expected the output of cs-qa audit)"))
                continue
            rows.append(row)
    return rows, bad


# --------------------------------------------------------------------------- SVG charts
def _bars(
    items: Sequence[Tuple[str, float, str]], width: int = 420, bar: int = 18, label_w: int = 150, unit: str = ""
) -> str:
    """Horizontal bar chart: (label, value, colour) per bar."""
    if not items:
        return '<p class="muted">无</p>'
    top = max(v for _, v, _ in items) or 1
    h = len(items) * (bar + 6) + 4
    parts = [f'<svg class="chart" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img">']
    for i, (label, value, color) in enumerate(items):
        y = 2 + i * (bar + 6)
        w = max(1.0, (width - label_w - 50) * value / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar * 0.72:.1f}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}" rx="2">'
            f"<title>{escape(label)}: {value:g}{unit}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar * 0.72:.1f}">{value:g}{unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(scores: Sequence[float], pass_marks: Sequence[float], width: int = 420, height: int = 160) -> str:
    bins = [0] * 10
    for s in scores:
        bins[min(9, int(s // 10))] += 1
    top = max(bins) or 1
    pad, bw = 24, (width - 30) / 10
    parts = [
        f'<svg class="chart" width="{width}" height="{height + pad}" viewBox="0 0 {width} {height + pad}" role="img">'
    ]
    for i, n in enumerate(bins):
        h = (height - 20) * n / top
        x = 20 + i * bw
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" '
            f'fill="#1565c0" rx="2"><title>{i * 10}–{i * 10 + 10}分：{n}通</title></rect>'
        )
        if n:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - h - 4:.1f}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{x:.1f}" y="{height + 14}" text-anchor="middle" class="axis">{i * 10}</text>')
    parts.append(f'<text x="{20 + 10 * bw:.1f}" y="{height + 14}" text-anchor="middle" class="axis">100</text>')
    for mark in sorted(set(pass_marks)):
        x = 20 + mark / 10 * bw
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#c62828" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="10" class="axis" fill="#c62828">合格线 {mark:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _timeline(row: Dict[str, Any], width: int = 900) -> str:
    """Turns in two lanes (agent above, customer below) on a time axis; holds shaded, silences and
    findings marked. Without times, turns are laid out in order with equal widths."""
    turns = (row.get("call") or {}).get("turns") or []
    if not turns:
        return ""
    timed = all(t.get("start") is not None for t in turns if t.get("role") != "event")
    if timed:
        spans = []
        for i, t in enumerate(turns):
            s = t.get("start")
            if s is None:
                s = next((u.get("start") for u in turns[i + 1 :] if u.get("start") is not None), 0.0)
            e = t.get("end")
            if e is None:
                nxt = next((u.get("start") for u in turns[i + 1 :] if u.get("start") is not None), None)
                e = min(nxt, s + 3.0) if nxt is not None and nxt > s else s + 1.0
            spans.append((float(s), float(max(e, s))))
        t0 = min(s for s, _ in spans)
        t1 = max(e for _, e in spans) or 1.0
    else:
        spans = [(float(i), float(i) + 0.9) for i in range(len(turns))]
        t0, t1 = 0.0, float(len(turns))
    total = max(t1 - t0, 1e-6)
    left, right = 56, 10
    scale = (width - left - right) / total

    def x(t: float) -> float:
        return left + (t - t0) * scale

    lanes = {"agent": 22, "customer": 52}
    h = 108
    label_rows = [0]  # event labels alternate between two rows so that close events stay legible
    parts = [
        f'<svg class="timeline" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img">',
        '<text x="4" y="35">客服</text><text x="4" y="65">客户</text>',
    ]
    for f in row.get("findings", []):
        if f.get("check_id") in ("silence.dead_air", "chat.reply_time") and f.get("start") is not None and timed:
            parts.append(
                f'<rect x="{x(f["start"]):.1f}" y="14" width="{max(2, (f["end"] - f["start"]) * scale):.1f}" '
                f'height="58" class="silence"><title>{escape(f["message"])}</title></rect>'
            )
    for i, (t, (s, e)) in enumerate(zip(turns, spans)):
        role, text = t.get("role"), str(t.get("text", ""))
        if role == "event":
            name = EVENT_ZH.get(text, text)
            ly = 86 + 11 * (label_rows[0] % 2)
            label_rows[0] += 1
            if text in ("hold", "mute"):
                parts.append(
                    f'<rect x="{x(s):.1f}" y="14" width="{max(3, (e - s) * scale):.1f}" height="58" '
                    f'class="hold"><title>#{i} {escape(name)} {e - s:.0f}秒</title></rect>'
                    f'<text x="{x(s) + 3:.1f}" y="{ly}" class="axis">{escape(name)}</text>'
                )
            else:
                parts.append(
                    f'<line x1="{x(s):.1f}" x2="{x(s):.1f}" y1="12" y2="76" class="event">'
                    f"<title>#{i} {escape(name)}</title></line>"
                    f'<text x="{x(s) + 2:.1f}" y="{ly}" class="axis">{escape(name)}</text>'
                )
            continue
        y = lanes.get(role, 52)
        cls = "agent" if role == "agent" else "customer"
        parts.append(
            f'<rect x="{x(s):.1f}" y="{y}" width="{max(2, (e - s) * scale):.1f}" height="18" class="{cls}" '
            f'rx="2"><title>#{i} {escape(ROLE_ZH.get(role, role))}：{escape(text[:80])}</title></rect>'
        )
    flagged = sorted({i for f in row.get("findings", []) for i in f.get("turns", [])})
    for i in flagged:
        if 0 <= i < len(spans):
            cx = x(spans[i][0])
            parts.append(
                f'<path d="M{cx - 5:.1f},2 L{cx + 5:.1f},2 L{cx:.1f},11 Z" class="flag">'
                f"<title>#{i} 有问题</title></path>"
            )
    axis = f"{t1 - t0:.0f}秒" if timed else f"{len(turns)}轮（无时间戳）"
    parts.append(f'<text x="4" y="{h - 2}" class="axis">{axis}</text></svg>')
    return "".join(parts)


# --------------------------------------------------------------------------- model for the template
def _fmt_time(t: Optional[float]) -> str:
    if t is None:
        return ""
    m, s = divmod(float(t), 60)
    return f"{int(m):02d}:{s:04.1f}"


def _call_view(row: Dict[str, Any], n: int) -> Dict[str, Any]:
    turns_in = (row.get("call") or {}).get("turns") or []
    results = row.get("turns") or [None] * len(turns_in)
    by_turn: Dict[int, List[Dict[str, Any]]] = defaultdict(list)
    for f in row.get("findings", []):
        for i in f.get("turns", []):
            by_turn[i].append(f)
    turns = []
    for i, t in enumerate(turns_in):
        r = results[i] if i < len(results) else None
        verdict, emotion, rule_findings = None, None, []
        if isinstance(r, dict) and "label" in r and t.get("role") == "agent":
            verdict = r["label"]
            rule_findings = [f for f in r.get("findings", []) if f.get("label") != "standard"]
        elif isinstance(r, dict) and "label" in r:
            emotion = r["label"]
        turns.append(
            {
                "i": i,
                "role": t.get("role"),
                "role_zh": ROLE_ZH.get(str(t.get("role")), t.get("role")),
                "text": EVENT_ZH.get(str(t.get("text")), t.get("text")) if t.get("role") == "event" else t.get("text"),
                "time": _fmt_time(t.get("start")) + (f"–{_fmt_time(t.get('end'))}" if t.get("end") is not None else ""),
                "verdict": verdict,
                "verdict_zh": LABEL_ZH.get(str(verdict), verdict),
                "emotion": emotion,
                "emotion_zh": EMOTION_ZH.get(str(emotion), emotion),
                "call_findings": by_turn.get(i, []),
                "rule_findings": rule_findings,
            }
        )
    return {
        "n": n,
        "anchor": f"call-{n}",
        "row": row,
        "turns": turns,
        "timeline": _timeline(row),
        "findings": row.get("findings", []),
        "skipped": row.get("skipped", []),
    }


def build_model(
    rows: Iterable[Dict[str, Any]], title: str = "通话质检报告", engine: Optional[str] = None
) -> Dict[str, Any]:
    rows = list(rows)
    ok = [r for r in rows if "error" not in r]
    errors = [r for r in rows if "error" in r]
    scores = [float(r["score"]) for r in ok]
    passed = sum(1 for r in ok if r.get("passed"))
    by_check = Counter(f["check_id"] for r in ok for f in r.get("findings", []))
    by_sev = Counter(f.get("severity", "medium") for r in ok for f in r.get("findings", []))
    last_emotion = Counter((r.get("emotion") or {}).get("last") for r in ok)
    agents: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for r in ok:
        if r.get("agent_id"):
            agents[str(r["agent_id"])].append(r)
    agent_rows = []
    for aid, rs in sorted(agents.items()):
        top = Counter(f["check_id"] for r in rs for f in r.get("findings", [])).most_common(1)
        agent_rows.append(
            {
                "id": aid,
                "calls": len(rs),
                "pass_rate": sum(1 for r in rs if r.get("passed")) / len(rs),
                "mean": sum(float(r["score"]) for r in rs) / len(rs),
                "top": f"{top[0][0]} ×{top[0][1]}" if top else "—",
            }
        )
    pass_marks = [float(r["pass_mark"]) for r in ok if r.get("pass_mark") is not None]
    return {
        "title": title,
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "engine": engine or next((r.get("engine") for r in ok), None),
        "scorecards": sorted({r.get("scorecard") for r in ok if r.get("scorecard")}),
        "calls": len(ok),
        "errors": errors,
        "passed": passed,
        "pass_rate": passed / len(ok) if ok else 0.0,
        "mean": sum(scores) / len(scores) if scores else 0.0,
        "hist": _histogram(scores, pass_marks),
        "by_check": _bars([(cid, n, "#1565c0") for cid, n in by_check.most_common(15)]),
        "by_severity": _bars([(SEVERITY_ZH[s], by_sev.get(s, 0), SEVERITY_COLOR[s]) for s in SEVERITIES]),
        "emotion_end": _bars(
            [(EMOTION_ZH[e], last_emotion.get(e, 0), EMOTION_COLOR[e]) for e in EMOTIONS]
            + ([("无客户发言", last_emotion[None], "#bdbdbd")] if last_emotion.get(None) else [])
        ),
        "agents": agent_rows,
        "call_views": [_call_view(r, n) for n, r in enumerate(ok)],
        "severity_zh": SEVERITY_ZH,
        "emotion_zh": EMOTION_ZH,
    }


def render_report(rows: Iterable[Dict[str, Any]], title: str = "通话质检报告", engine: Optional[str] = None) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("sdk.audit", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: f"{100 * v:.0f}%"
    env.filters["svg"] = Markup  # charts are built above from numbers and escaped labels
    return env.get_template("report.html.j2").render(**build_model(rows, title, engine))


def write_report(
    rows: Iterable[Dict[str, Any]], path: str, title: str = "通话质检报告", engine: Optional[str] = None
) -> None:
    html = render_report(rows, title, engine)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html)
