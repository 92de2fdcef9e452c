"""How the synthetic notes spell numbers, dates and times (the French forms a reader must parse)."""

from __future__ import annotations

import datetime as dt

from clinrag.text.dates import month_name


def fr_number(value: float, decimals: int) -> str:
    """A number with a French decimal comma: ``fr_number(7.25, 1) == "7,2"``."""
    return f"{value:.{decimals}f}".replace(".", ",")


def fr_date(day: dt.date, style: int) -> str:
    """A date in one of the forms French notes use: 0 ``12/03/2023``, 1 ``12 mars 2023``, 2 ``12.03.23``."""
    if style == 0:
        return day.strftime("%d/%m/%Y")
    if style == 1:
        return f"{day.day} {month_name(day.month)} {day.year}"
    return day.strftime("%d.%m.%y")


def fr_time(moment: dt.datetime) -> str:
    """``14h05``."""
    return f"{moment.hour}h{moment.minute:02d}"
