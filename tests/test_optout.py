from __future__ import annotations

import pytest

from xobito.optout import (
    START_KEYWORDS,
    STOP_KEYWORDS,
    is_start_keyword,
    is_stop_button,
    is_stop_keyword,
    normalize,
)

STOP_BY_LANGUAGE = {
    "english": ["Unsubscribe", "stop all", "END", "Quit", "Opt-out"],
    "spanish": ["Baja", "ALTO", "cancelar", "desinscribir", "¡Parar!"],
    "portuguese": ["Sair", "desativar", "PARAR"],
    "french": ["Arrêt", "arrêter"],
    "german": ["Abmelden", "stopp", "Stoppen"],
    "dutch": ["Afmelden", "stoppen"],
    "italian": ["Basta!", "disiscriviti"],
    "hindi": ["Band karo", "bandh karo", "BAND"],
    "indonesian": ["BERHENTI"],
    "english phrases": ["Stop please", "Please stop!", "UNSUBSCRIBE ME", "Remove me"],
    "russian": ["СТОП", "стоп", "Отписаться"],
    "turkish": ["İPTAL", "Dur", "durdur"],
    "arabic": ["توقف", "إيقاف", "إلغاء الاشتراك"],
    "chinese": ["停止", "退订"],
    "japanese": ["ストップ", "配信停止"],
    "vietnamese": ["Dừng lại", "Hủy đăng ký", "dung lai", "huy dang ky"],
}
START_BY_LANGUAGE = {
    "english": ["START", "Subscribe", "unstop", "Resume"],
    "spanish": ["Iniciar", "comenzar", "reanudar", "volver"],
    "portuguese": ["retomar", "Iniciar"],
    "french": ["Démarrer"],
    "german": ["Starten", "anmelden"],
    "dutch": ["Aanmelden"],
    "italian": ["Iscriviti"],
    "hindi": ["Shuru"],
    "indonesian": ["Mulai"],
    "russian": ["Старт", "подписаться"],
    "turkish": ["Başla"],
    "arabic": ["ابدأ"],
    "chinese": ["开始"],
    "japanese": ["スタート"],
}


def _by_language(table: dict[str, list[str]]) -> list[object]:
    return [
        pytest.param(word, id=f"{language}-{word}")
        for language, words in table.items()
        for word in words
    ]


@pytest.mark.parametrize(
    "text", ["STOP", "Stop.", "stop 🙏", "ARRÊT", "parar", "  stop  "]
)
def test_whole_message_stop_opts_out(text: str) -> None:
    assert is_stop_keyword(text)


@pytest.mark.parametrize(
    "text",
    [
        "don't stop",
        "stop by tomorrow?",
        "non-stop deals",
        "please stop by",
        # Given names that are also a stop word's root, written alone.
        "Dũng",
        "Huy",
    ],
)
def test_sentence_containing_stop_does_not_opt_out(text: str) -> None:
    assert not is_stop_keyword(text)


@pytest.mark.parametrize("text", _by_language(STOP_BY_LANGUAGE))
def test_stop_keyword_in_each_language_opts_out(text: str) -> None:
    assert is_stop_keyword(text)


@pytest.mark.parametrize("text", _by_language(START_BY_LANGUAGE))
def test_start_keyword_in_each_language_opts_in(text: str) -> None:
    assert is_start_keyword(text)


@pytest.mark.parametrize("text", ["yes", "Yes!", "si", "Sí"])
def test_a_plain_yes_does_not_opt_in(text: str) -> None:
    assert not is_start_keyword(text)


def test_stop_keyword_is_not_a_start_keyword() -> None:
    assert not is_start_keyword("STOP")


def test_start_keyword_is_not_a_stop_keyword() -> None:
    assert not is_stop_keyword("START")


@pytest.mark.parametrize("text", ["", "   ", "🙏", "..."])
def test_empty_or_emoji_only_text_is_no_keyword(text: str) -> None:
    assert not is_stop_keyword(text, extra=[""])


def test_extra_words_opt_out_too() -> None:
    assert is_stop_keyword("¡NO MÁS!", extra=["no mas"])


def test_extra_words_are_compared_normalized() -> None:
    assert is_start_keyword("volver a empezar", extra=["Volver a EMPEZAR"])


def test_stop_promotions_button_text_opts_out() -> None:
    assert is_stop_button("Stop promotions", "")


def test_stop_promotions_button_payload_opts_out() -> None:
    assert is_stop_button("Detener promociones", "STOP_PROMOTIONS")


def test_other_button_does_not_opt_out() -> None:
    assert not is_stop_button("Yes, tell me more", "yes_interested")


def test_normalize_drops_accents_punctuation_and_emoji() -> None:
    assert normalize("  ¡Arrêt,   SVP! 🙏🏽 ") == "arret svp"


def test_keyword_lists_are_normalized() -> None:
    for word in STOP_KEYWORDS | START_KEYWORDS:
        assert normalize(word) == word


def test_keyword_lists_do_not_overlap() -> None:
    assert not STOP_KEYWORDS & START_KEYWORDS
