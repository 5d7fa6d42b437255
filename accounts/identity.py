"""One person, one account: the canonical forms that usernames and email addresses are stored
and compared in, and the look-alikes refused before they get that far."""

import re
import unicodedata

from confusable_homoglyphs import categories, confusables
from django.core.exceptions import ValidationError
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

ENCODED_WORD = re.compile(r"=\?.*\?=")
USERNAME_KEY_LENGTH = 150


def clean_email(typed: str) -> str:
    """What a person typed as their address, in canonical form; ValidationError otherwise."""
    reject_control_characters(typed)
    if not typed.strip():
        raise ValidationError(_("This field is required."), code="required")
    return canonical_email(typed.strip())


def reject_control_characters(value: str) -> None:
    """Line breaks and other control characters could smuggle headers into emails."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValidationError(
            _("Control characters and line breaks are not allowed."), code="control"
        )


def canonical_email(address: str) -> str:
    """The address as it is stored and compared: its domain in one form (IDNA: a fullwidth
    `example.org` is `example.org`), its local part ASCII and unquoted, nothing invisible.
    Addresses that could not be delivered to safely are refused (email-validator: format and
    bidi characters, line separators, quoted local parts, domains without a dot), and so are
    RFC 2047 encoded words, which mail programs decode into other text."""
    if ENCODED_WORD.search(address):
        raise ValidationError(
            _("Enter an email address without encoded words (=?…?=)."), code="invalid"
        )
    try:
        validated = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValidationError(invalid_email_message(exc), code="invalid") from exc
    if any(mixes_look_alike_scripts(label) for label in validated.domain.split(".")):
        raise ValidationError(
            _(
                "This address's domain mixes letters of different alphabets that look alike "
                "(as in a look-alike of another domain)."
            ),
            code="confusable",
        )
    return validated.normalized


# email-validator says precisely what is wrong, in English only: the reasons people meet most,
# translated here. Other languages get the general message for the rarer ones.
EMAIL_REASONS = {
    gettext_noop("An email address must have an @-sign."),
    gettext_noop("There must be something before the @-sign."),
    gettext_noop("There must be something after the @-sign."),
    gettext_noop("The part after the @-sign is not valid. It should have a period."),
    gettext_noop(
        "The part after the @-sign is not valid. It is not within a valid top-level domain."
    ),
    gettext_noop("An email address cannot have two periods in a row."),
    gettext_noop("An email address cannot start with a period."),
    gettext_noop("An email address cannot end with a period."),
    gettext_noop("An email address cannot have a period immediately before the @-sign."),
}
# Reasons that end by naming the characters at fault.
EMAIL_REASONS_NAMING = {
    "The email address contains invalid characters before the @-sign: ": gettext_noop(
        "The email address contains invalid characters before the @-sign: %(characters)s"
    ),
    "The part after the @-sign contains invalid characters: ": gettext_noop(
        "The part after the @-sign contains invalid characters: %(characters)s"
    ),
}


def invalid_email_message(exc: EmailNotValidError) -> str:
    reason = email_reason(str(exc))
    if reason is None:
        return _("Enter a valid email address.")
    return _("Enter a valid email address. %(reason)s") % {"reason": reason}


def email_reason(reason: str) -> str | None:
    """email-validator's reason in the reader's language; None where it has no translation."""
    if reason in EMAIL_REASONS:
        return _(reason)
    for start, message in EMAIL_REASONS_NAMING.items():
        if reason.startswith(start):
            return _(message) % {"characters": reason.removeprefix(start)}
    return reason if (get_language() or "en").split("-")[0] == "en" else None


def username_key(username: str) -> str:
    """What makes two usernames the same: Unicode compatibility form, then case folded in every
    script (NFKC_Casefold), so `Émile`/`émile` and `АДМИН`/`админ` are one name on SQLite as on
    PostgreSQL, whose lower() functions differ."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded)


def validate_username_key(username: str) -> None:
    """Folding can lengthen a name (ß is ss): its key must fit where keys are stored."""
    if len(username_key(username)) > USERNAME_KEY_LENGTH:
        raise ValidationError(
            _("This username is too long once its letter case is folded."), code="max_length"
        )


# Letters and marks that show nothing: Hangul fillers, the braille blank, the combining
# grapheme joiner, Mongolian and other variation selectors (with format characters, category
# Cf, such as zero-width spaces and direction marks).
INVISIBLE = {chr(code) for code in (0x034F, 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0)} | {
    chr(code)
    for first, last in ((0x180B, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
    for code in range(first, last + 1)
}


def reject_invisible_characters(username: str) -> None:
    """A name with a character that shows nothing looks like another name, or like none; the
    message names the character, which the person cannot see."""
    for char in username:
        if char in INVISIBLE or unicodedata.category(char) == "Cf":
            raise ValidationError(
                _(
                    "This username contains an invisible character (%(code_point)s). "
                    "Type it again without it."
                )
                % {"code_point": f"U+{ord(char):04X}"},
                code="invisible",
            )


# The scripts whose letters pass for one another. Other mixes are how languages are written
# (Japanese mixes Han, Hiragana and Katakana; Latin goes with any), and TR39's "highly
# restrictive" profile allows them, unless a character in them passes for a Latin one.
LOOK_ALIKE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK"}


def mixes_look_alike_scripts(text: str) -> bool:
    """Text made to be mistaken for other text (Unicode TR39 confusables): Latin letters beside
    a character of another script that passes for a Latin one (an Armenian o, U+0585, in
    "support"; a Cherokee S) or beside a digit NFKC does not make 0-9 (an Arabic-Indic one,
    U+0661, after "staff"); or letters of two of LOOK_ALIKE_SCRIPTS, one confusable with
    another's."""
    if text.isascii():
        return False
    scripts = {categories.alias(char) for char in text if char.isalpha()}
    if "LATIN" in scripts and (
        any(char.isdigit() and not unicodedata.normalize("NFKC", char).isascii() for char in text)
        or (len(scripts) > 1 and passes_for_latin(text))
    ):
        return True
    return len(scripts & LOOK_ALIKE_SCRIPTS) > 1 and bool(confusables.is_dangerous(text))


def passes_for_latin(text: str) -> bool:
    """A letter of another script confusable with a Latin one. Characters common to all
    scripts (the digits 0-9, the Japanese long-vowel mark "ー") are confusable too, but with
    each other: a name is not a look-alike for having them."""
    found = confusables.is_confusable(text, greedy=True, preferred_aliases=["LATIN"]) or []
    return any(
        categories.alias(match["character"]) not in {"LATIN", "COMMON", "INHERITED"}
        for match in found
    )


def latin_twin(username: str) -> str | None:
    """The Latin name this one passes for letter by letter ("ace" written with the Cyrillic
    U+0430, U+0441 and U+0435 passes for "ace"); None if one of its letters passes for no Latin
    one, or it is Latin already."""
    if username.isascii():
        return None
    twin = []
    for char in username:
        if char.isascii():
            twin.append(char)
            continue
        found = confusables.is_confusable(char, preferred_aliases=["LATIN"]) or []
        latin = [glyph["c"] for match in found for glyph in match["homoglyphs"]]
        latin = [glyph for glyph in latin if glyph.isascii()]
        if not latin:
            return None
        twin.append(latin[0])
    return "".join(twin)


def reject_look_alikes(username: str) -> None:
    """A name written in one script, or as a language mixes them, is welcome."""
    if mixes_look_alike_scripts(username):
        raise ValidationError(
            _(
                "This username mixes letters of different alphabets that look alike; "
                "use letters from one alphabet."
            ),
            code="confusable",
        )
