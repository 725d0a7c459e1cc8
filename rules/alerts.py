"""Turning red-flag signals into an Alert: a risk score from the pack's weights and a severity."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from rules.policy import Pack
from schemas.codes import AlertSubject, Severity, SignalCode
from schemas.models import Alert, Signal


def risk_score(signals: Sequence[Signal], pack: Pack) -> float:
    """Noisy-OR of the signals' weights: several weak flags add up, none reaches 1 alone."""
    remaining = 1.0
    for code in {s.code for s in signals}:
        remaining *= 1.0 - pack.red_flags.weights[code]
    return round(1.0 - remaining, 4)


def severity_of(signals: Sequence[Signal], score: float, pack: Pack) -> Severity:
    levels = pack.red_flags.severity
    if any(s.code in levels.always_critical for s in signals) or score >= levels.critical:
        return Severity.CRITICAL
    if score >= levels.high:
        return Severity.HIGH
    if score >= levels.medium:
        return Severity.MEDIUM
    return Severity.LOW


def signal(code: SignalCode, detail: str, pack: Pack) -> Signal:
    return Signal(code=code, detail=detail, weight=pack.red_flags.weights[code])


def build_alert(
    *,
    subject: AlertSubject,
    subject_id: str,
    order_id: str | None,
    signals: Sequence[Signal],
    pack: Pack,
    policy_version: str,
    raised_at: dt.datetime,
    version_key: str,
) -> Alert:
    """An alert whose id is stable for one (subject, version, signals), so replays repeat it."""
    score = risk_score(signals, pack)
    codes = ",".join(sorted(s.code.value for s in signals))
    digest = hashlib.sha1(f"{subject}|{subject_id}|{version_key}|{codes}".encode()).hexdigest()
    return Alert(
        alert_id=f"ALR-{digest[:16]}",
        subject=subject,
        subject_id=subject_id,
        order_id=order_id,
        severity=severity_of(signals, score, pack),
        risk_score=score,
        signals=list(signals),
        raised_at=raised_at,
        policy_version=policy_version,
    )
