"""Stop and start keywords: when an inbound message opts a contact out or in.

A message is a keyword only when its whole text is one, once normalized:
trimmed, case-folded, stripped of accents (and "đ" read as "d"),
punctuation and emoji, with its spaces collapsed. "STOP", "Stop." and
"stop 🙏" opt out; "don't stop" and "non-stop deals" do not.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from xobito.letters import UNMARKED

# Unicode general categories, by first letter: accents are marks (M);
# punctuation (P), symbols (S, emoji among them) and controls or format
# characters (C, such as the joiner inside emoji sequences) split words.
_ACCENTS = "M"
_SEPARATORS = "PSC"


def normalize(text: str) -> str:
    """The form keywords are compared in: "¡Parar!" becomes "parar"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold()).translate(UNMARKED)
    kept = []
    for char in decomposed:
        kind = unicodedata.category(char)[0]
        if kind in _ACCENTS:
            continue
        # A space rather than nothing, so that "opt-out" reads "opt out".
        kept.append(" " if kind in _SEPARATORS else char)
    return " ".join("".join(kept).split())


# Written as people write them; compared once normalized.
_STOP_WORDS = (
    # English
    "stop",
    "stopp",
    "stop all",
    "stopall",
    "stop promotions",
    "unsubscribe",
    "end",
    "quit",
    "cancel",
    "optout",
    "opt out",
    "stop please",
    "please stop",
    "stop messaging me",
    "unsubscribe me",
    "remove me",
    # Spanish
    "parar",
    "alto",
    "baja",
    "cancelar",
    "desinscribir",
    # Portuguese
    "sair",
    "desativar",
    "descadastrar",
    # French
    "arret",
    "arreter",
    "desabonner",
    # German
    "abmelden",
    "stoppen",
    # Dutch
    "afmelden",
    # Italian
    "basta",
    "disiscriviti",
    # Hindi, in Latin script
    "band",
    "bandh",
    "band karo",
    "bandh karo",
    # Indonesian
    "berhenti",
    # Russian
    "стоп",
    "отписаться",
    "отписка",
    # Turkish
    "dur",
    "durdur",
    "iptal",
    # Arabic
    "توقف",
    "إيقاف",
    "إلغاء",
    "إلغاء الاشتراك",
    # Chinese
    "停止",
    "退订",
    "取消订阅",
    # Japanese
    "ストップ",
    "配信停止",
    # Vietnamese ("dừng" and "hủy" alone are also given names)
    "dừng lại",
    "hủy đăng ký",
)
STOP_KEYWORDS = frozenset(normalize(word) for word in _STOP_WORDS)
"""Whole messages that opt a contact out, in normalized form."""

# "yes" and "si" are left out on purpose: they answer any question, and
# reading them as a resubscription would undo a contact's opt-out.
_START_WORDS = (
    # English
    "start",
    "subscribe",
    "unstop",
    "resume",
    "optin",
    "opt in",
    # Spanish and Portuguese
    "iniciar",
    "comenzar",
    "reanudar",
    "volver",
    "retomar",
    # French
    "demarrer",
    # German and Dutch
    "starten",
    "anmelden",
    "aanmelden",
    # Italian
    "iscriviti",
    # Indonesian
    "mulai",
    # Hindi, in Latin script
    "shuru",
    # Russian
    "старт",
    "подписаться",
    # Turkish
    "başla",
    # Arabic
    "ابدأ",
    # Chinese
    "开始",
    "订阅",
    # Japanese
    "スタート",
)
START_KEYWORDS = frozenset(normalize(word) for word in _START_WORDS)
"""Whole messages that opt a contact back in, in normalized form."""

STOP_BUTTON = "stop promotions"
"""Meta's marketing opt-out quick reply, by text or payload, normalized."""


def _matches(text: str, words: frozenset[str], extra: Iterable[str]) -> bool:
    said = normalize(text)
    if not said:
        return False
    return said in words or said in {normalize(word) for word in extra}


def is_stop_keyword(text: str, extra: Iterable[str] = ()) -> bool:
    """The whole message asks to stop; `extra` adds a workspace's words."""
    return _matches(text, STOP_KEYWORDS, extra)


def is_start_keyword(text: str, extra: Iterable[str] = ()) -> bool:
    """The whole message asks to start (again)."""
    return _matches(text, START_KEYWORDS, extra)


def is_stop_button(text: str, payload: str) -> bool:
    """The tap was on a template's stop-promotions quick reply."""
    return STOP_BUTTON in (normalize(text), normalize(payload))
