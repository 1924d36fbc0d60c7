"""The 8 standard cancellation reasons and their exact labels (en, fr, de as specified; id ours).

The English, French and German labels are the exact texts of the product specification; tests
compare the portal against them character for character (typographic apostrophes included).
"""

from __future__ import annotations

STANDARD_REASONS: tuple[str, ...] = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)

LABELS: dict[str, dict[str, str]] = {
    "too_expensive": {
        "en": "It’s too expensive",
        "fr": "Le tarif est trop élevé",
        "de": "Es ist zu teuer.",
        "id": "Harganya terlalu mahal",
    },
    "missing_features": {
        "en": "I need more features",
        "fr": "J’ai besoin de plus de fonctionnalités",
        "de": "Ich benötige mehr Funktionen",
        "id": "Saya butuh lebih banyak fitur",
    },
    "switched_service": {
        "en": "I found an alternative",
        "fr": "J’ai trouvé une autre solution",
        "de": "Ich habe eine Alternative gefunden",
        "id": "Saya menemukan alternatif lain",
    },
    "unused": {
        "en": "I no longer need it",
        "fr": "Je n’en ai plus besoin",
        "de": "Ich brauche es nicht mehr.",
        "id": "Saya tidak membutuhkannya lagi",
    },
    "customer_service": {
        "en": "Customer service was less than expected",
        "fr": "Le service client n’est pas satisfaisant",
        "de": "Der Kundenservice war schlechter als erwartet.",
        "id": "Layanan pelanggan kurang dari yang diharapkan",
    },
    "too_complex": {
        "en": "Ease of use was less than expected",
        "fr": "L’utilisation est trop complexe",
        "de": "Die Nutzerfreundlichkeit war schlechter als erwartet.",
        "id": "Kemudahan penggunaan kurang dari yang diharapkan",
    },
    "low_quality": {
        "en": "Quality was less than expected",
        "fr": "La qualité est insuffisante",
        "de": "Die Qualität war schlechter als erwartet.",
        "id": "Kualitas kurang dari yang diharapkan",
    },
    "other": {
        "en": "Other reason",
        "fr": "Autre motif",
        "de": "Anderer Grund",
        "id": "Alasan lain",
    },
}


def label(code: str, locale: str) -> str:
    """The label of a standard reason in `locale` (English when the locale has none)."""
    labels = LABELS[code]
    return labels.get(locale) or labels["en"]
