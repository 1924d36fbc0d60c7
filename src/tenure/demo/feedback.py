"""Why demo customers leave: the 8 feedback codes in a realistic mix, and comments in their language."""

from __future__ import annotations

import random

from tenure.subscriptions.models import Feedback

# Price and disuse lead, as in most subscription businesses; a few skip the survey (None).
FEEDBACK_WEIGHTS: tuple[tuple[Feedback | None, int], ...] = (
    (Feedback.TOO_EXPENSIVE, 26),
    (Feedback.UNUSED, 20),
    (Feedback.SWITCHED_SERVICE, 15),
    (Feedback.MISSING_FEATURES, 13),
    (Feedback.TOO_COMPLEX, 7),
    (Feedback.OTHER, 7),
    (Feedback.LOW_QUALITY, 6),
    (Feedback.CUSTOMER_SERVICE, 5),
    (None, 6),
)

COMMENT_SHARE = 0.45

COMMENTS: dict[Feedback, dict[str, tuple[str, ...]]] = {
    Feedback.TOO_EXPENSIVE: {
        "en": ("Too expensive for a team our size.", "Our budget was cut this year."),
        "fr": ("Trop cher pour une petite équipe comme la nôtre.", "Notre budget a été réduit cette année."),
        "de": ("Für unser kleines Team leider zu teuer.", "Unser Budget wurde dieses Jahr gekürzt."),
        "id": ("Harganya terlalu mahal untuk tim kecil kami.", "Anggaran kami dipotong tahun ini."),
    },
    Feedback.MISSING_FEATURES: {
        "en": ("We need an export to our accounting tool.", "No usage-based pricing yet."),
        "fr": (
            "Il nous manque l’export vers notre logiciel de comptabilité.",
            "Pas encore de tarif à l’usage.",
        ),
        "de": (
            "Uns fehlt der Export in unsere Buchhaltungssoftware.",
            "Noch keine nutzungsbasierte Abrechnung.",
        ),
        "id": ("Kami butuh ekspor ke aplikasi akuntansi kami.", "Belum ada harga berdasarkan pemakaian."),
    },
    Feedback.SWITCHED_SERVICE: {
        "en": ("Moving to the tool our parent company already pays for.", "A competitor has a free tier."),
        "fr": ("Nous passons à l’outil de notre maison mère.", "Un concurrent propose une offre gratuite."),
        "de": (
            "Wir wechseln zum Tool unserer Muttergesellschaft.",
            "Ein Mitbewerber hat einen Gratis-Tarif.",
        ),
        "id": ("Kami pindah ke layanan yang dipakai kantor pusat.", "Pesaing menawarkan paket gratis."),
    },
    Feedback.UNUSED: {
        "en": ("The project ended.", "We hardly logged in over the last months."),
        "fr": ("Le projet est terminé.", "Nous ne l’utilisions presque plus."),
        "de": ("Das Projekt ist abgeschlossen.", "Wir haben es kaum noch genutzt."),
        "id": ("Proyeknya sudah selesai.", "Beberapa bulan ini hampir tidak kami pakai."),
    },
    Feedback.CUSTOMER_SERVICE: {
        "en": ("Waited a week for an answer to a billing question.",),
        "fr": ("Une semaine d’attente pour une réponse du support.",),
        "de": ("Eine Woche auf eine Antwort vom Support gewartet.",),
        "id": ("Menunggu seminggu untuk jawaban dari tim dukungan.",),
    },
    Feedback.TOO_COMPLEX: {
        "en": ("Setting everything up took far too long.",),
        "fr": ("La configuration est trop compliquée pour nous.",),
        "de": ("Die Einrichtung war uns zu kompliziert.",),
        "id": ("Pengaturannya terlalu rumit bagi kami.",),
    },
    Feedback.LOW_QUALITY: {
        "en": ("Too many bugs in the invoice PDFs.",),
        "fr": ("Trop de bugs dans les factures PDF.",),
        "de": ("Zu viele Fehler in den PDF-Rechnungen.",),
        "id": ("Terlalu banyak bug di faktur PDF.",),
    },
    # "Other" always comes with the customer's own words.
    Feedback.OTHER: {
        "en": (
            "Our company is being acquired.",
            "Closing the business at the end of the year.",
            "Personal reasons.",
        ),
        "fr": (
            "Notre entreprise a été rachetée.",
            "Nous fermons l’activité en fin d’année.",
            "Raisons personnelles.",
        ),
        "de": (
            "Unsere Firma wurde übernommen.",
            "Wir schließen das Geschäft zum Jahresende.",
            "Persönliche Gründe.",
        ),
        "id": ("Perusahaan kami diakuisisi.", "Usaha kami tutup akhir tahun ini.", "Alasan pribadi."),
    },
}


def pick_feedback(rng: random.Random, language: str) -> tuple[Feedback | None, str | None]:
    """A cancelling customer's answer to the survey: a code, and sometimes their own words."""
    feedback = rng.choices([f for f, _ in FEEDBACK_WEIGHTS], weights=[w for _, w in FEEDBACK_WEIGHTS])[0]
    if feedback is None:
        return None, None
    if feedback == Feedback.OTHER or rng.random() < COMMENT_SHARE:
        return feedback, rng.choice(COMMENTS[feedback][language])
    return feedback, None
