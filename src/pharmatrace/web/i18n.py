"""Translations from gettext catalogues (``locale/<lang>/LC_MESSAGES/messages.po``).

Message IDs are English; Simplified Chinese is the default language (``zh_CN``), English the switch.
Catalogues are compiled in memory at start-up, so no binary ``.mo`` files are kept in the repository.
"""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from pharmatrace.kernel import context
from pharmatrace.kernel.errors import N_, RULE, PharmaTraceError, Translatable, loaded_params

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def normalize(locale: str | None) -> str:
    if not locale:
        return DEFAULT_LOCALE
    lowered = locale.replace("-", "_").lower()
    if lowered.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def gettext(message: str) -> str:
    return translations(context.locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(context.locale.get()).ngettext(singular, plural, n)


_ = gettext


def translate(message: str, **params: Any) -> str:
    """The message in the reader's language, its placeholders filled in; placeholders that are messages of
    their own (:class:`~pharmatrace.kernel.errors.Translatable`: a Msgid, a list of reasons) are translated too."""
    text = gettext(message)
    if not params:
        return text
    return text.format(
        **{k: v.translated(translate) if isinstance(v, Translatable) else v for k, v in params.items()}
    )


def in_record_language(message: str, **params: Any) -> str:
    """The message as a GMP record written for the plant keeps it: in the plant's language (Simplified Chinese),
    whatever language the person who caused it reads on screen (a deviation's description, a printed record)."""
    token = context.locale.set(DEFAULT_LOCALE)
    try:
        return translate(message, **params)
    finally:
        context.locale.reset(token)


def stored_message(message: str, params: str, fallback: str = "") -> str:
    """A message kept in a row as its msgid and JSON placeholders (``errors.stored_params``), in the reader's
    language; ``fallback`` (the English text kept beside it) when the row holds no msgid."""
    return translate(message, **loaded_params(params)) if message else fallback


def error_message(error: PharmaTraceError) -> str:
    return translate(error.message, **error.params)


# Pydantic error types → translated messages (validation happens at the edge, SH/TJ "bad input").
_VALIDATION_MESSAGES: dict[str, str] = {  # values are msgids
    "missing": N_("This field is required"),
    "extra_forbidden": N_("Unknown field"),
    "string_pattern_mismatch": N_("The value has the wrong format"),
    "string_too_short": N_("The value is too short"),
    "string_too_long": N_("The value is too long"),
    "string_type": N_("Text is required"),
    "int_parsing": N_("A whole number is required"),
    "int_type": N_("A whole number is required"),
    "int_from_float": N_("A whole number is required"),
    "bool_parsing": N_("Yes or no is required"),
    "bool_type": N_("Yes or no is required"),
    "list_type": N_("A list is required"),
    "literal_error": N_("The value is not one of the allowed choices"),
    "greater_than_equal": N_("The value is too small"),
    "greater_than": N_("The value is too small"),
    "decimal_parsing": N_("A number is required"),
    "decimal_type": N_("A number is required"),
    "decimal_max_digits": N_("The number has too many digits"),
    "decimal_max_places": N_("The number has too many decimal places"),
    "date_parsing": N_("A date is required (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("A date is required (YYYY-MM-DD)"),
    "date_type": N_("A date is required (YYYY-MM-DD)"),
    "less_than_equal": N_("The value is too large"),
    "json_invalid": N_("The request body is not valid JSON"),
    "model_attributes_type": N_("The request body must be a JSON object"),
    "dict_type": N_("The request body must be a JSON object"),
}


def validation_message(error_type: str) -> str:
    return gettext(_VALIDATION_MESSAGES.get(error_type, N_("The value is not valid")))


def field_errors(errors: list[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI error dicts → ``[{"field": "login", "message": "…"}]`` in the reader's language."""
    out: list[dict[str, str]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        out.append(
            {
                "field": ".".join(loc) or "body",
                "type": str(error.get("type", "")),
                "message": gettext(str(error["msg"]))
                if error.get("type") == RULE
                else validation_message(str(error.get("type", ""))),
            }
        )
    return out
