"""Dates in every French form, told apart from ages, durations, scores and fractions; a date announced as a
birth date ("né le", "DDN", "date de naissance") is a DATE_NAISSANCE.

The forms are :data:`clinrag.text.dates.IDENTIFYING_PATTERNS`; what is decided here is which of their matches
is a date and which a birth date, from the words around it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import replace

from clinrag.pseudo._numbers import digits_of
from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import fold
from clinrag.text.dates import (
    FULL_MONTH_PATTERN,
    IDENTIFYING_PATTERNS,
    MONTH_FORMS,
    MONTH_PATTERN,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAYS,
    YEAR_WORD_PATTERN,
    expand_year,
)

# What makes "12/8" a measure rather than a date: a score, pressure or ratio just before, a unit just after.
_MEASURE_BEFORE = re.compile(
    r"(?:\b(?:ta|pa|tas|tad|tension|pression|score|nihss|glasgow|gcs|eva|mrs|rankin|fc|sao2|spo2|ratio|"
    r"soit|dont|sur|ecg|force|mrc|cotation|cote|cotee|note|grade|stade|tici|aspects|fazekas)\b|[=<>])\W{0,3}$"
)
_UNIT_AFTER = re.compile(
    r"^ ?(?:mm ?hg|cm ?hg|%|mg|ml|g\b|kg|cp|comprim|ans?\b|mois\b|jours?\b|semaines?\b|h\b|heures?\b|min)"
)
# Prepositions that announce a date written as day/month only ("le 12/03", "du 2/8 au 5/8").
_DATE_BEFORE = re.compile(
    r"\b(?:le|du|au|depuis|des|jusqu'au|avant|apres|entre|et|date|rdv|prevu|vu|vue)\W{0,3}$"
)
# Birth-date announcements: "né le", "née le :", "né(e) le", "DDN :", "date de naissance :".
_BIRTH_BEFORE = re.compile(
    r"(?:\bn[ée]e?s?\b|\bn[ée] ?\(e\)|\bd\.?d\.?n\b\.?|\bnaissance\b|\bnee?\(e\))\W{0,3}(?:le\b|en\b|du\b)?\W{0,3}$"
)
_AGE_AFTER = re.compile(r"^ ?\(?\s?\d{1,3} ?ans\b")


def valid_date(day: str | int, month: str | int, year: int = 2000) -> bool:
    """Whether day/month(/year) is a calendar date (29 February allowed on leap years only)."""
    try:
        dt.date(year, int(month), int(day))
    except ValueError:
        return False
    return True


def _candidates(text: str) -> Iterator[tuple[int, int]]:
    """Character ranges that hold a valid date, before birth-date labelling."""
    patterns = IDENTIFYING_PATTERNS
    for pattern in (patterns["numeric"], patterns["iso"]):
        for m in pattern.finditer(text):
            if valid_date(m["day"], m["month"], expand_year(m["year"])) and not _unit_follows(text, m.end()):
                yield m.span()
    for m in patterns["compact"].finditer(text):
        if valid_date(m["day"], m["month"], int(m["year"])):
            yield m.span()
    for m in patterns["day_month"].finditer(text):
        if _day_month_is_date(text, m):
            yield m.span()
    for m in patterns["written"].finditer(text):
        day = 1 if m["day"].lower() == "1er" else int(m["day"])
        year = int(m["year"]) if m["year"] else 2000
        month = MONTH_FORMS[fold(m["month"]).rstrip(".")]
        if valid_date(day, month, year) and not _unit_follows(text, m.end()):
            yield m.span()
    for name in ("month_year", "numeric_month_year", "spelled"):
        for m in patterns[name].finditer(text):
            yield m.span()
    for m in patterns["month_short_year"].finditer(text):
        if not _unit_follows(text, m.end()):
            yield m.span()
    for m in patterns["year"].finditer(text):
        if not _unit_follows(text, m.end()):
            yield m.span("year")
    yield from _partial_dates(text)


# Parts of dates the patterns above leave: the first days of a range or a list ("les 2 et 5 avril", "du 8 au 17
# mai", "le 28 et le 31 janvier", "des 11, 18 et 25 février"), a
# month alone after a word that makes it a date ("en février", "fin janvier"), a year in parentheses ("(2022)")
# or opening an item of a list ("- 1981 hystérectomie"), and a date written with spaces ("11 10 1938").
_RANGE_START = re.compile(
    rf"(?<![\w])(?i:les?|du|des|entre|depuis le)[ \t]+(?P<days>(?:(?:1er|\d{{1,2}})[ \t]*,[ \t]*)*(?:1er|\d{{1,2}}))"
    rf"[ \t]*(?:et|au|à|-|–)[ \t]*(?:(?i:le)[ \t]+)?"
    rf"(?=(?:1er|\d{{1,2}})[ \t]*(?:(?i:{MONTH_PATTERN})(?![\w])|[/.\-][ \t]*\d{{1,2}}))"
)
# The same in words, as dictated: "hospitalisé du trois au onze décembre", "du dix au dix-sept juin".
_DAY_WORD = (
    r"(?:premier|deux|trois|quatre|cinq|six|sept|huit|neuf|dix(?:-sept|-huit|-neuf)?|onze|douze|treize|quatorze|"
    r"quinze|seize|vingt(?:-et-un| et un|-deux|-trois|-quatre|-cinq|-six|-sept|-huit|-neuf)?|trente(?:-et-un| et un)?)"
)
_SPELLED_RANGE_START = re.compile(
    rf"(?<![\w])(?i:les?|du|entre)[ \t]+(?P<day>(?i:{_DAY_WORD}))[ \t]+(?i:et|au)[ \t]+"
    rf"(?=(?i:{_DAY_WORD})[ \t]+(?i:{FULL_MONTH_PATTERN})(?![\w]))"
)
_MONTH_ALONE = re.compile(
    rf"(?<![\w])(?:(?P<part>(?i:d[ée]but|fin|courant|mi-))|(?i:en|depuis|jusqu'en|(?:au|le|du) mois d[e'’]|d[e'’]))"
    rf"[ \t]?(?P<month>(?i:{FULL_MONTH_PATTERN}))(?![\w])"
)
# A month with its year spelled out, as dictated: "je le reverrai en mai deux mille vingt-sept".
_MONTH_SPELLED_YEAR = re.compile(
    rf"(?<![\w])(?i:{FULL_MONTH_PATTERN}) (?i:deux mille|mille neuf cents?|mil neuf cents?|dix-neuf cents?)"
    rf"(?:[ \-](?i:{YEAR_WORD_PATTERN})){{0,5}}(?![\w])"
)
# The day alone after "le" or "du", the month being the letter's own: "entrée possible le 17", "retour dans le
# service le 2", "pour la consultation du 13". Not an emergency number called ("appeler le 15", "fait le 18"), a
# measure ("le 2 mg") or a time ("le 13 h"); not a number before another ("le 2/3").
_DAY_AFTER_ARTICLE = re.compile(
    r"(?<![\w'’])(?i:le|du)[ \t]+(?P<day>3[01]|[12]\d|[1-9])(?![\w])(?![/.,:\-]?\d)(?![ \t]*(?:h\b|h\d|heures?\b|%|°))"
)
# Dates of neighbouring countries' letters, their day before their month's name: Italian, Spanish, Catalan,
# Portuguese, German ("il 2 febbraio", "el 4 de agosto de 2024", "a 20 de agosto", "am 12. März 2025").
_FOREIGN_MONTHS = (
    r"gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre|"
    r"enero|febrero|abril|mayo|junio|julio|septiembre|setiembre|octubre|noviembre|diciembre|"
    r"gener|febrer|març|maig|juny|juliol|setembre|octubre|desembre|"
    r"janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|dezembro|"
    r"Januar|Februar|März|April|Juni|Juli|August|September|Oktober|Dezember"
)
_FOREIGN_DATE = re.compile(
    rf"(?<![\w])(?:1º|\d{{1,2}})\.? (?:de |d['’])?(?i:{_FOREIGN_MONTHS})(?:,? (?:de |del )?(?:19|20)\d{{2}})?(?![\w])"
)
# Both days of a range without its month: "visite du 12 au 14", "absente du 3 au 9".
_DAY_RANGE = re.compile(
    r"(?<![\w'’])(?i:du)[ \t]+(?P<first>3[01]|[12]\d|[1-9])[ \t]*(?i:au|-|–)[ \t]*(?P<last>3[01]|[12]\d|[1-9])"
    r"(?![\w])(?![/.,:\-]?\d)"
)
_CALLED = re.compile(
    r"(?i:appel\w*|compos\w*|contact\w*|fai[ts]|faire|joindre|joint|pr[ée]venir|alert\w*|num[ée]ro|via|par|"
    r"au|tel|t[ée]l\.?)\W*(?:le|du)[ \t]+$"
)
_EMERGENCY_NUMBERS = {"15", "17", "18"}
# Holidays as dates: "à la Toussaint 2021", "pour Noël", "depuis Pâques".
_HOLIDAY = re.compile(
    r"(?<![\w])(?:(?i:[àa] la |pour la |depuis la |avant la |apr[èe]s la |vers la |de la |la )(?P<fem>Toussaint|"
    r"Pentec[ôo]te|Saint-Sylvestre|Chandeleur)|(?i:[àa] |pour |depuis |avant |apr[èe]s |vers |de |d['’]|"
    r"jusqu['’][àa] )(?P<masc>No[ëe]l|P[âa]ques|l['’]Ascension|Nouvel An|jour de l['’]an))"
    r"(?P<year> (?:19|20)\d{2})?(?![\w])"
)
# A day spelled out after "le" or "du", as dictated: "la fille revient le vingt-deux" (not "premier", "deux" or
# "neuf", words of other meanings after "le").
_SPELLED_DAY = re.compile(
    rf"(?<![\w'’])(?i:le|du)[ \t]+(?P<day>(?!(?i:premier|deux|neuf)(?![\w-]))(?i:{_DAY_WORD}))(?![\w-])"
)
# A day and a month with a dot after a word that announces a date: "endartériectomie le 23.10", "le 2.8 à 9h15".
_DOTTED_DAY_MONTH = re.compile(
    r"(?<![\w])(?i:le|du|au|depuis le|jusqu'au)[ \t]+(?P<date>(?P<day>\d{1,2})\.(?P<month>\d{1,2}))(?![\w]|[.,/]\d)"
)
# "mi-avril", "mi-mars 2023": the half of the month is part of the date, as eds-pseudo marks it.
_MID_MONTH = re.compile(rf"(?<![\w-])(?i:mi-(?:{FULL_MONTH_PATTERN}))(?: (?:19|20)\d{{2}})?(?![\w])")
_YEAR_ALONE = re.compile(
    r"\((?P<paren>(?:19|20)\d{2})\)|(?:(?m:^)|(?<=\s))[-•*][ \t]*(?P<item>(?:19|20)\d{2})(?![\w,.])"
)
_WEEKDAY = "|".join(WEEKDAYS)
_WEEKDAY_ABBREVIATION = "|".join(WEEKDAY_ABBREVIATIONS)
# A day of the month by its number.
_DAY_NUMBER = r"(?P<day>1er|3[01]|[12]\d|[1-9])"
# A weekday before a numeric date belongs to it: "Lundi 15/01/2024", "mer. 08/05/2024".
_WEEKDAY_NUMERIC = re.compile(
    rf"(?<![\w])(?i:{_WEEKDAY}|{_WEEKDAY_ABBREVIATION})\.?,? "
    r"(?=(?P<date>(?P<day>\d{1,2})[/.\-](?P<month>\d{1,2})(?:[/.\-](?:\d{4}|\d{2}))?)(?![\w]|[/.\-]\d))"
)
# A weekday with the day's number and no month, the month being the letter's own: "proposé le lundi 13 à 14h",
# "le samedi 18 au matin", "du lun. 16 au ven. 20/11" (abbreviated with their dot only: "mar 3" or "sam 2" may be
# anything).
_WEEKDAY_DAY = re.compile(
    rf"(?<![\w])(?i:{_WEEKDAY}|(?:{_WEEKDAY_ABBREVIATION})\.)[ \t]*(?<=[ \t.]){_DAY_NUMBER}(?![\w])(?![/.\-]\d)"
)
# The day alone, the month being the letter's own, after words that only announce a date: "en congés jusqu'au
# 26", "relais par l'IDE à partir du 17" (not "du 15" or "le 15": the SAMU's number).
_DAY_ALONE = re.compile(
    rf"(?<![\w])(?i:jusqu'au|jusqu’au|[àa] partir du|[àa] compter du)[ \t]+{_DAY_NUMBER}(?![\w])(?![/.,:\-]\d)"
)
# "12-mars-2024", "3.avr.24" (exports of hospital software)
_HYPHENATED_DATE = re.compile(
    rf"(?<![\w])(?P<day>\d{{1,2}})[-.](?P<month>(?i:{MONTH_PATTERN}))\.?[-.](?P<year>(?:19|20)?\d{{2}})(?![\w])"
)
# A form's boxes, one digit each: "0 6 / 0 4 / 1 9 7 9".
_BOXED_DATE = re.compile(
    r"(?<![\w])(?P<day>\d \d) ?/ ?(?P<month>\d \d) ?/ ?(?P<year>(?:1 9|2 0) \d \d)(?![\w])"
)
_SPACED_DATE = re.compile(
    r"(?<![\w])(?<!\d )(?P<day>\d{1,2}) (?P<month>\d{1,2}) (?P<year>(?:19|20)\d{2})(?![\w])(?! \d\b)"
)


def _partial_dates(text: str) -> Iterator[tuple[int, int]]:
    for m in _RANGE_START.finditer(text):
        for day in re.finditer(r"1er|\d{1,2}", m["days"]):
            if day.group() == "1er" or 1 <= int(day.group()) <= 31:
                yield m.start("days") + day.start(), m.start("days") + day.end()
    for m in _MONTH_SPELLED_YEAR.finditer(text):
        yield m.span()
    for m in _DAY_AFTER_ARTICLE.finditer(text):
        before = text[max(0, m.start() - 30) : m.end() - len(m["day"])]
        if _unit_follows(text, m.end()) or (m["day"] in _EMERGENCY_NUMBERS and _CALLED.search(before)):
            continue
        if _MEASURE_BEFORE.search(fold(text[max(0, m.start() - 20) : m.start()])):
            continue
        yield m.span("day")
    for m in _DAY_RANGE.finditer(text):
        if int(m["first"]) < int(m["last"]) and not _unit_follows(text, m.end()):
            yield m.span("first")
            yield m.span("last")
    for m in _FOREIGN_DATE.finditer(text):
        yield m.span()
    for m in _HOLIDAY.finditer(text):
        yield m.start("fem") if m["fem"] else m.start("masc"), m.end()
    for m in _SPELLED_DAY.finditer(text):
        if not _unit_follows(text, m.end()):
            yield m.span("day")
    for m in _DOTTED_DAY_MONTH.finditer(text):
        if valid_date(m["day"], m["month"]) and not _unit_follows(text, m.end("date")):
            yield m.span("date")
    for m in _MONTH_ALONE.finditer(text):
        yield (m.start("part") if m["part"] else m.start("month")), m.end()  # "fin septembre" whole
    for m in _SPELLED_RANGE_START.finditer(text):
        yield m.span("day")
    for m in _MID_MONTH.finditer(text):
        yield m.span()
    for m in _YEAR_ALONE.finditer(text):
        group = "paren" if m["paren"] else "item"
        if not _unit_follows(text, m.end(group)):
            yield m.span(group)
    for m in _HYPHENATED_DATE.finditer(text):
        yield m.span()
    for m in _WEEKDAY_NUMERIC.finditer(text):
        if valid_date(m["day"], m["month"]) and not _unit_follows(text, m.end("date")):
            yield m.start(), m.end("date")
    for m in _WEEKDAY_DAY.finditer(text):
        if not _unit_follows(text, m.end()):
            yield m.span()
    for m in _DAY_ALONE.finditer(text):
        if not _unit_follows(text, m.end()):
            yield m.span("day")
    for m in _BOXED_DATE.finditer(text):
        day, month, year = (m[name].replace(" ", "") for name in ("day", "month", "year"))
        if valid_date(day, month, int(year)):
            yield m.span()
    for m in _SPACED_DATE.finditer(text):
        if valid_date(m["day"], m["month"], int(m["year"])):
            yield m.span()


def _unit_follows(text: str, end: int) -> bool:
    """Whether a unit or duration follows, which makes the number a measure ("12/8 mmHg", "3 ans")."""
    return _UNIT_AFTER.match(fold(text[end : end + 12])) is not None


def _day_month_is_date(text: str, match: re.Match[str]) -> bool:
    """Whether "12/03" is a date: a valid day and month, no score or unit around it, and either written with
    two digits each ("01/09") or announced by a preposition ("le 2/8")."""
    if not valid_date(match["day"], match["month"]):
        return False
    before = fold(text[max(0, match.start() - 20) : match.start()])
    if _MEASURE_BEFORE.search(before) or _unit_follows(text, match.end()):
        return False
    two_digits = len(match["day"]) == 2 and len(match["month"]) == 2
    return two_digits or _DATE_BEFORE.search(before) is not None


def is_birth_date(text: str, start: int, end: int) -> bool:
    """Whether the date at ``text[start:end]`` is announced as a birth date, or followed by an age in years."""
    before = fold(text[max(0, start - 30) : start])
    return _BIRTH_BEFORE.search(before) is not None or _AGE_AFTER.match(text[end : end + 12]) is not None


def find_dates(text: str) -> Iterator[Span]:
    """Every date, labelled DATE_NAISSANCE when announced as a birth date, DATE otherwise.

    Forms: ``12/03/2024``, ``12.03.24``, ``12-03-2024``, ``2024-03-12``, ``12032024``, ``12/03`` (see
    :func:`_day_month_is_date`), ``12 mars 2024``, ``1er mars``, ``mardi 12 mars``, ``mars 2024``,
    ``décembre 93``, ``03/2024``, ``déc. 1993``, a year after "en" or "depuis", and dates spelled out in
    words. Dates dictated digit by digit (``1 2 0 3 2 0 2 4``) are read by :mod:`._spaced`.

    Ages ("78 ans") and durations ("3 heures", "J3") never match: a date needs a month, and a number followed
    by a unit is dropped.
    """
    for start, end in sorted(set(_candidates(text))):
        label = "DATE_NAISSANCE" if is_birth_date(text, start, end) else "DATE"
        yield Span.of(text, start, end, label)


def _year_suffix(date_text: str) -> str | None:
    """The last two digits of a date's year ("12/05/77" and "12 mai 1977" give "77"), when it has digits."""
    groups = re.findall(r"\d+", date_text)
    for group in groups:
        if len(group) == 4 and group[:2] in ("19", "20"):
            return group[2:]
    digits = "".join(groups)
    if len(digits) in (6, 8):
        return digits[-2:]
    return None


def relabel_birth_dates(spans: list[Span]) -> list[Span]:
    """Turn into DATE_NAISSANCE the dates of the year of birth that a social security number of the same text
    gives (its 2nd and 3rd digits): headers list the birth date without announcing it.

    A date of the same year as the birth (a newborn's stay) is relabelled too; both are identifiers anyway.
    """
    birth_years = {digits_of(span.text)[1:3] for span in spans if span.label == "SECU"}
    if not birth_years:
        return spans
    return [
        replace(span, label="DATE_NAISSANCE")
        if span.label == "DATE" and _year_suffix(span.text) in birth_years
        else span
        for span in spans
    ]
