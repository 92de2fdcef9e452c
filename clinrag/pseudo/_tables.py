"""Tables written with "|" (exports of hospital software, lists of patients): the cells under a header that names
an identifier ("Nom", "Prénom", "IPP", "N° passage", "Né(e) le", "Téléphone") are that identifier, whatever their
form."""

from __future__ import annotations

import re
from collections.abc import Iterator

from clinrag.pseudo._names import name_spans, scan_name
from clinrag.pseudo.labels import Span
from clinrag.pseudo.vocabulary import fold

# A header cell, folded and its spaces, "(e)" and "(s)" removed, to what its column holds: "NAME" (a name read
# with scan_name), "PRENOM" (first names), or the label of the whole cell.
_HEADERS = {
    **dict.fromkeys(
        (
            "nom",
            "noms",
            "nomdenaissance",
            "nomd'usage",
            "nomusuel",
            "nomprenom",
            "nometprenom",
            "patient",
            "identite",
        ),
        "NAME",
    ),
    **dict.fromkeys(("prenom", "prenoms"), "PRENOM"),
    **dict.fromkeys(("ipp", "nip", "n°ipp", "idpatient", "n°patient"), "IPP"),
    **dict.fromkeys(
        (
            "nda",
            "n°nda",
            "n°passage",
            "n°sejour",
            "n°venue",
            "n°dossier",
            "n°admission",
            "sejour",
            "venue",
            "passage",
        ),
        "NDA",
    ),
    **dict.fromkeys(("nele", "datedenaissance", "ddn", "naissance", "dn"), "DATE_NAISSANCE"),
    **dict.fromkeys(("tel", "tel.", "telephone", "portable"), "TEL"),
    **dict.fromkeys(("ville", "commune", "lieudenaissance"), "VILLE"),
    **dict.fromkeys(("adresse",), "ADRESSE"),
    **dict.fromkeys(("nir", "nss", "n°ss", "n°securitesociale"), "SECU"),
}
_CELL = re.compile(r"[^|\n]+")
_NOT_A_VALUE = re.compile(r"[\s\-–—_/.]*|(?i:vide|n\.?c\.?|inconnue?|nc|\?)")


def _header_key(cell: str) -> str:
    return re.sub(r"\((?:e|s|es)\)|\s", "", fold(cell.strip()))


def find_table_cells(text: str) -> Iterator[Span]:
    """The identifiers of the table columns named by their header. A line of text ends a table; a ruler
    ("------") does not."""
    columns: dict[int, str] = {}
    for line in re.finditer(r"[^\n]*", text):
        if line.group().count("|") < 2:
            if line.group().strip(" -=_+\t"):
                columns = {}
            continue
        cells = list(_CELL.finditer(text, line.start(), line.end()))
        header = {
            i: _HEADERS[_header_key(c.group())]
            for i, c in enumerate(cells)
            if _header_key(c.group()) in _HEADERS
        }
        if len(header) >= 2 or (header and len(cells) == 1):
            columns = header  # a header line names two columns or more ("| Nom | Prénom | IPP |")
            continue
        for index, kind in columns.items():
            if index >= len(cells):
                continue
            value = cells[index].group()
            start = cells[index].start() + len(value) - len(value.lstrip())
            end = cells[index].end() - (len(value) - len(value.rstrip()))
            if end <= start or _NOT_A_VALUE.fullmatch(text[start:end]):
                continue
            if kind in ("NAME", "PRENOM"):
                yield from name_spans(text, scan_name(text, start), "PRENOM" if kind == "PRENOM" else None)
            elif kind in ("VILLE", "ADRESSE") or re.search(r"\d", text[start:end]):
                yield Span.of(text, start, end, kind)
