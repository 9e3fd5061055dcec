"""Every human-readable string of the auditor's report (``report.py``), each written once, in English and Urdu.

Urdu terms follow the registrar UI's catalogue (api/translations/ur): پولنگ افسر, پریذائیڈنگ افسر, استثنا, بیلٹ,
شناختی کارڈ, میچ لاگ, اندراج, سلسلہ نمبر, حد (threshold). Codes that name a thing in the log (an event, a mode, a
reason, an anomaly's kind) are keys of the tables below; one the tables do not know is shown as its code.

The plots' own text (titles, axes, legends) stays English: matplotlib has no complex text layout and cannot join
Urdu letters. The captions under each plot, in HTML, say in the report's language what the panels show."""
from __future__ import annotations

from station.i18n.languages import Phrase

# --- the page ---
TITLE = Phrase("Audit report: {station}", "آڈٹ رپورٹ: {station}")
HEADING = Phrase("Match log audit: station {station}", "میچ لاگ کا آڈٹ: اسٹیشن {station}")
CHAIN = Phrase("Chain of {entries} entries:", "{entries} اندراجات کی زنجیر:")
CHAIN_HOLDS = Phrase("HOLDS", "درست ہے")
CHAIN_BROKEN = Phrase("BROKEN", "ٹوٹی ہوئی ہے")
SEALED = Phrase("(sealed at close of poll).", "(پولنگ بند ہونے پر دستخط شدہ مہر لگ چکی ہے)۔")
NOT_SEALED = Phrase("(not sealed).", "(مہر نہیں لگی)۔")
ROLL_DIGEST = Phrase("Roll digest:", "انتخابی فہرست کا ہیش:")
ROLL_DIGEST_UNSIGNED = Phrase("(not signed by the seal)", "(مہر کے دستخط میں شامل نہیں)")
SIGNER = Phrase("Signer:", "دستخط کنندہ:")
BREAKS = Phrase("Breaks", "زنجیر کی خرابیاں")
WARNINGS = Phrase("Warnings", "انتباہ")
VERIFIER_WORDS = Phrase("As the verifier wrote them:", "تصدیق کرنے والے پروگرام کے اپنے الفاظ میں (انگریزی میں):")
ANOMALIES = Phrase("Flagged anomalies", "نشان زدہ بے قاعدگیاں")
NONE = Phrase("none", "کوئی نہیں")
OUTCOMES = Phrase("Outcomes", "نتائج")
COUNT = Phrase("count", "تعداد")
PLOTS = Phrase("Plots", "گراف")
FIGURES_JSON = Phrase("Figures (JSON)", "اعداد و شمار (JSON)")

# --- the tables ---
BALLOTS_BY_MODE = Phrase("Ballots by verification mode", "تصدیق کے طریقے کے لحاظ سے بیلٹ")
EXCEPTIONS_BY_OPERATOR = Phrase("Exceptions by polling officer", "پولنگ افسر کے لحاظ سے استثنا")
EXCEPTIONS_BY_APPROVER = Phrase("Exceptions by presiding officer", "پریذائیڈنگ افسر کے لحاظ سے استثنا")
EXCEPTIONS_BY_REASON = Phrase("Exceptions by reason", "وجہ کے لحاظ سے استثنا")
LOG_EVENTS = Phrase("Log events", "لاگ کے اندراجات، قسم کے لحاظ سے")

MODES = {  # how a voter given a ballot was verified (the ballot entry's decided_by)
    "fingerprint": Phrase("fingerprint", "فنگر پرنٹ"),
    "face": Phrase("face", "چہرہ"),
    "exception": Phrase("exception", "استثنا"),
}
REASONS = {  # the presiding officer's exception reasons (config: policy.exception_reasons)
    "worn_prints": Phrase("worn fingerprints", "گھسے ہوئے فنگر پرنٹس"),
    "no_biometrics_on_record": Phrase("no biometrics on record", "ریکارڈ میں بائیو میٹرک موجود نہیں"),
    "device_failure": Phrase("device failure", "آلے کی خرابی"),
    "other": Phrase("other (see the note)", "دیگر (نوٹ دیکھیں)"),
}
EVENTS = {  # the match log's events
    "identify": Phrase("identify", "شناخت"),
    "fingerprint_attempt": Phrase("fingerprint attempt", "فنگر پرنٹ کی کوشش"),
    "face_attempt": Phrase("face attempt", "چہرے کی کوشش"),
    "exception": Phrase("exception", "استثنا"),
    "ballot_issued": Phrase("ballot issued", "بیلٹ جاری"),
    "card_rejected": Phrase("card refused", "شناختی کارڈ مسترد"),
    "card_references": Phrase("references read from the card", "کارڈ سے بائیو میٹرک حوالے پڑھے گئے"),
    "cross_match": Phrase("one finger on two voters", "ایک انگلی دو ووٹروں سے میچ"),
    "device_failure": Phrase("device failure", "آلے کی خرابی"),
    "power_event": Phrase("power event", "بجلی کا واقعہ"),
    "poll_closed": Phrase("poll closed", "پولنگ بند"),
    "backup_taken": Phrase("backup taken", "بیک اپ لیا گیا"),
    "backup_failed": Phrase("backup failed", "بیک اپ ناکام"),
    "authority_answer": Phrase("ID authority answered", "شناختی ادارے کا جواب"),
    "authority_unavailable": Phrase("ID authority unavailable", "شناختی ادارہ دستیاب نہیں"),
    "authority_refused": Phrase("ID authority refused", "شناختی ادارے نے انکار کیا"),
    "authority_error": Phrase("ID authority error", "شناختی ادارے سے رابطے میں خرابی"),
    "roll_import": Phrase("roll imported", "انتخابی فہرست درآمد"),
    "roll_package": Phrase("roll package", "انتخابی فہرست کا پیکیج"),
    "roll_change": Phrase("roll change", "انتخابی فہرست میں تبدیلی"),
    "identity_installed": Phrase("station identity installed", "اسٹیشن کی شناخت نصب"),
    "voter_key_installed": Phrase("voter reference key installed", "ووٹر حوالہ کلید نصب"),
    "crl_installed": Phrase("revocation list installed", "منسوخ شدہ سرٹیفکیٹس کی فہرست نصب"),
    "enrollment_started": Phrase("registration started", "رجسٹریشن شروع"),
    "enrollment_capture": Phrase("registration capture", "رجسٹریشن کا بائیو میٹرک نمونہ"),
    "enrollment_exception": Phrase("registration exception", "رجسٹریشن میں استثنا"),
    "enrollment_search": Phrase("duplicate search", "دوہرے اندراج کی تلاش"),
    "enrollment_decision": Phrase("registrar's decision", "رجسٹرار کا فیصلہ"),
    "enrollment_enrolled": Phrase("registered (pending)", "رجسٹرڈ (زیر التوا)"),
    "enrollment_cancelled": Phrase("registration cancelled", "رجسٹریشن منسوخ"),
    "registrations_admitted": Phrase("registrations admitted to the roll", "رجسٹریشنز انتخابی فہرست میں شامل"),
    "roll_station_added": Phrase("polling station added", "پولنگ اسٹیشن شامل"),
    "roll_centre_added": Phrase("registration centre added", "رجسٹریشن مرکز شامل"),
    "roll_certificate_revoked": Phrase("station certificate revoked", "اسٹیشن کا سرٹیفکیٹ منسوخ"),
    "roll_crl_issued": Phrase("revocation list issued", "منسوخ شدہ سرٹیفکیٹس کی فہرست جاری"),
    "roll_trust": Phrase("roll package key trusted", "انتخابی فہرست کے پیکیج کی کلید پر اعتماد"),
}

# --- the anomalies: each kind's name, and the sentence that describes one ---
ANOMALY_KINDS = {
    "too_fast": Phrase("too fast", "بہت جلدی"),
    "card_rejected": Phrase("card refused", "شناختی کارڈ مسترد"),
    "shared_finger": Phrase("shared finger", "ایک انگلی، دو ووٹر"),
    "outside_hours": Phrase("outside polling hours", "پولنگ کے اوقات سے باہر"),
    "double_ballot": Phrase("two ballots", "ایک ووٹر، ایک سے زیادہ بیلٹ"),
    "exception_rate": Phrase("many exceptions", "غیر معمولی تعداد میں استثنا"),
}
ANOMALY_MESSAGES = {
    "too_fast": Phrase(
        "entry {seq}: voter serial {serial} identified and given a ballot in {seconds} s (under {limit} s: nobody "
        "is processed that fast)",
        "اندراج {seq}: سلسلہ نمبر {serial} والے ووٹر کی شناخت سے بیلٹ تک صرف {seconds} سیکنڈ لگے ({limit} سیکنڈ "
        "سے کم: اتنی جلدی کسی ووٹر کا کام مکمل نہیں ہوتا)"),
    "too_fast_more": Phrase(
        "... and {count} more voters given a ballot in under {limit} s (entries {entries})",
        "... اور {count} مزید ووٹروں کو {limit} سیکنڈ سے کم میں بیلٹ جاری ہوا (اندراجات {entries})"),
    "card_rejected": Phrase("entry {seq}: a CNIC card was refused ({reason})",
                            "اندراج {seq}: ایک شناختی کارڈ مسترد ہوا ({reason})"),
    "shared_finger": Phrase(
        "entry {seq}: the print that verified serial {serial} also matches voter {other}",
        "اندراج {seq}: جس فنگر پرنٹ سے سلسلہ نمبر {serial} کی تصدیق ہوئی، وہ ووٹر {other} سے بھی میچ کرتا ہے"),
    "outside_hours": Phrase(
        "{count} entries outside polling hours {hours} ({timezone}), first: entry {first}",
        "پولنگ کے اوقات {hours} ({timezone}) سے باہر {count} اندراجات، پہلا: اندراج {first}"),
    "double_ballot": Phrase("voter {voter} was issued {count} ballots", "ووٹر {voter} کو {count} بیلٹ جاری ہوئے"),
    "exception_rate": Phrase(
        "operator {operator}: exceptions for {count} of their {sessions} voters ({rate}), against {station_rate} "
        "for the station",
        "پولنگ افسر {operator}: ان کے {sessions} ووٹروں میں سے {count} کے لیے استثنا ({rate})، جبکہ پورے اسٹیشن "
        "میں {station_rate}"),
}

# --- the plots: the heading over each image and the caption under it (the image's own text is English) ---
PLOT_SCORES = Phrase("Scores against thresholds", "اسکور اور ان کی حد")
PLOT_SCORES_CAPTION = Phrase(
    "Left: fingerprint scores (bozorth3; higher is closer). Right: face distances (lower is closer). Stacked bars: "
    "\u201cmatch\u201d and \u201cno match / poor\u201d (no match, or a print too poor to compare); the dashed red line "
    "is the threshold.",
    "بائیں طرف: فنگر پرنٹ اسکور (bozorth3؛ زیادہ کا مطلب زیادہ مشابہ)۔ دائیں طرف: چہرے کا فاصلہ (کم کا مطلب زیادہ "
    "قریب)۔ ہر بار کے دو حصے: «match» یعنی میچ، اور «no match / poor» یعنی میچ نہیں یا فنگر پرنٹ کا معیار کمزور؛ سرخ "
    "ڈیش والی لکیر («threshold») حد ہے۔")
PLOT_PACE = Phrase("Pace and attempts", "رفتار اور کوششیں")
PLOT_PACE_CAPTION = Phrase(
    "Left: ballots issued in each hour of the day (local time, 0 to 23). Right: how many biometric attempts each "
    "voter given a ballot needed.",
    "بائیں طرف: دن کے ہر گھنٹے میں جاری ہونے والے بیلٹ (مقامی وقت، 0 سے 23)۔ دائیں طرف: بیلٹ پانے والے ہر ووٹر کی "
    "بائیو میٹرک تصدیق میں کتنی کوششیں لگیں۔")


def all_phrases() -> dict[str, Phrase]:
    """Every phrase of the report by a name (``TITLE``, ``EVENTS[identify]``, ...): what the tests check."""
    out: dict[str, Phrase] = {}
    for name, value in globals().items():
        if isinstance(value, Phrase):
            out[name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, Phrase) for v in value.values()):
            out.update({f"{name}[{k}]": v for k, v in value.items()})
    return out
