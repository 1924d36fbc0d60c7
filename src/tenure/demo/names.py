"""Deterministic fake people for the demo: names, emails and addresses in English, French, German
and Indonesian (the languages of the portal's seeds). Emails use the reserved `example.*` domains,
so a configured SMTP server never mails a real person."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

LOCALES = ("en", "fr", "de", "id")
# Share of each language among the demo's customers.
LOCALE_WEIGHTS = (40, 20, 25, 15)

_FIRST: dict[str, tuple[str, ...]] = {
    "en": (
        "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "James", "Sophia", "William",
        "Isla", "Henry", "Grace", "Jack", "Chloe", "Lucas", "Mia", "Ethan", "Harper", "Samuel",
        "Ruby", "Daniel", "Evelyn", "Leo", "Zoë", "Owen", "Hannah", "Isaac", "Nora", "Aaron",
    ),
    "fr": (
        "Camille", "Louis", "Léa", "Gabriel", "Chloé", "Arthur", "Manon", "Hugo", "Inès", "Jules",
        "Zoé", "Raphaël", "Juliette", "Théo", "Clémence", "Mathis", "Élodie", "Nathan", "Margaux",
        "Antoine", "Anaïs", "Baptiste", "Océane", "Étienne", "Lucie", "Maël", "Sylvie", "François",
    ),
    "de": (
        "Lukas", "Anna", "Jonas", "Lena", "Felix", "Marie", "Maximilian", "Sophie", "Leon", "Laura",
        "Paul", "Johanna", "Moritz", "Katharina", "Niklas", "Jana", "Tobias", "Lea", "Sebastian",
        "Hannah", "Jürgen", "Sabine", "Matthias", "Ute", "Stefan", "Jörg", "Anke", "Björn",
    ),
    "id": (
        "Budi", "Siti", "Agus", "Dewi", "Rizky", "Putri", "Andi", "Ayu", "Dimas", "Intan",
        "Fajar", "Wulan", "Hendra", "Rina", "Yusuf", "Nurul", "Bayu", "Sari", "Eko", "Lestari",
        "Arief", "Kartika", "Joko", "Indah", "Wahyu", "Mega", "Taufik", "Ratna",
    ),
}  # fmt: skip

_LAST: dict[str, tuple[str, ...]] = {
    "en": (
        "Smith", "Johnson", "Williams", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas",
        "Roberts", "Walker", "Wright", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall",
        "Wood", "Harris", "Clarke", "Martin", "Cooper", "Hill", "Ward", "Morris", "O'Brien", "Murphy",
    ),
    "fr": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "García", "David", "Bertrand", "Roux",
        "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Chevalier",
    ),
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
        "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
        "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Weiß",
    ),
    "id": (
        "Santoso", "Wijaya", "Saputra", "Hidayat", "Pratama", "Kusuma", "Susanto", "Setiawan",
        "Nugroho", "Wibowo", "Siregar", "Lubis", "Halim", "Gunawan", "Purnomo", "Sihombing",
        "Hartono", "Tanjung", "Rahmawati", "Utami", "Putra", "Hakim", "Sembiring", "Nasution",
    ),
}  # fmt: skip

# (country, city, preferred locale tag, weight) per language.
_PLACES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "en": (
        ("US", "Austin", "en-US", 4), ("US", "Portland", "en-US", 3), ("US", "Boston", "en-US", 2),
        ("GB", "Manchester", "en-GB", 2), ("GB", "Bristol", "en-GB", 1), ("IE", "Dublin", "en-IE", 2),
        ("NL", "Amsterdam", "en", 1),
    ),
    "fr": (
        ("FR", "Lyon", "fr-FR", 3), ("FR", "Nantes", "fr-FR", 2), ("FR", "Paris", "fr-FR", 3),
        ("BE", "Bruxelles", "fr-BE", 1), ("FR", "Bordeaux", "fr", 1),
    ),
    "de": (
        ("DE", "Berlin", "de-DE", 3), ("DE", "Hamburg", "de-DE", 2), ("DE", "München", "de-DE", 2),
        ("AT", "Wien", "de-AT", 2), ("DE", "Köln", "de", 1),
    ),
    "id": (
        ("ID", "Jakarta", "id-ID", 4), ("ID", "Bandung", "id-ID", 2), ("ID", "Surabaya", "id", 1),
        ("ID", "Yogyakarta", "id", 1),
    ),
}  # fmt: skip

_DOMAINS = ("example.com", "example.org", "example.net")
# German umlauts are spelled out in addresses (Müller -> mueller); other accents are dropped.
_SPELLED_OUT = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    language: str  # en | fr | de | id
    preferred_locales: list[str]
    country: str
    city: str


def ascii_fold(text: str) -> str:
    """`Müller` -> `mueller`, `Élodie` -> `elodie`, `O'Brien` -> `obrien`: as spelled in an email."""
    for letter, spelled in _SPELLED_OUT.items():
        text = text.replace(letter, spelled)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


class People:
    """Makes distinct people from one random generator: the same seed gives the same people."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._emails: set[str] = set()

    def person(self, language: str | None = None) -> Person:
        rng = self._rng
        language = language or rng.choices(LOCALES, weights=LOCALE_WEIGHTS)[0]
        first = rng.choice(_FIRST[language])
        # Many Indonesians go by one name.
        last = None if language == "id" and rng.random() < 0.3 else rng.choice(_LAST[language])
        places = _PLACES[language]
        country, city, tag, _ = rng.choices(places, weights=[p[3] for p in places])[0]
        locales = [tag] if tag == language else [tag, language]
        if language != "en" and rng.random() < 0.2:
            locales.append("en")
        return Person(
            name=f"{first} {last}" if last else first,
            email=self._email(first, last),
            language=language,
            preferred_locales=locales,
            country=country,
            city=city,
        )

    def _email(self, first: str, last: str | None) -> str:
        rng = self._rng
        given, family = ascii_fold(first), ascii_fold(last or "")
        shapes = [f"{given}.{family}", f"{given[0]}{family}", f"{given}{family}"] if family else [given]
        local = rng.choice(shapes)
        domain = rng.choice(_DOMAINS)
        email = f"{local}@{domain}"
        number = 2
        while email in self._emails:
            email = f"{local}{number}@{domain}"
            number += 1
        self._emails.add(email)
        return email
