#!/usr/bin/env python3
"""Write the deterministic sample training sources bundled in ``data/sample/sources``.

Small parquet files shaped like the sources of the Apertus Stage-5 pretraining mix, so that a
recipe can run end to end (opt-out filtering, PII masking, token budgets) with no network and no
real data. Web documents use the 300 hosts of ``data/sample/signals/hosts.txt``, whose opt-out
signals are in that folder, so that filtering removes a realistic share. PII, and look-alikes that
must survive masking, are planted in the web text and listed in ``planted_pii.json``.

The output is byte-identical on every run with the same ``--seed`` (and the same pyarrow version):
every random choice comes from ``random.Random`` seeded with the seed and a fixed label, iteration
is sorted, ids are uuid5 of fixed names, and no clock time is used.

Layout (see the README this script writes next to the data):

    fineweb2-hq/part-0000{0,1,2}.parquet   multilingual web text, FineWeb-2 columns
    dclm-edu/part-0000{0,1}.parquet        English educational web text, FineWeb columns + token_count
    starcoder/part-0000{0,1}.parquet       code snippets (no url)
    finemath/part-0000{0,1}.parquet        math web text
    wikipedia/part-00000.parquet           articles in de, fr, it, en, rm
    parallel/part-00000.parquet            Europarl-like sentence pairs
    planted_pii.json                       every planted PII item and look-alike
    README.md                              what each file is and what is planted where

Only the standard library and pyarrow (a project dependency) are needed. Run from anywhere:
``python scripts/make_sample_sources.py``.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import itertools
import json
import random
import re
import shutil
import string
import unicodedata
import uuid
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "sample" / "sources"
HOSTS_FILE = REPO_ROOT / "data" / "sample" / "signals" / "hosts.txt"
DEFAULT_SEED = 5
UUID_NAMESPACE = uuid.UUID("0b7e8a52-3c1d-4f6e-9a2b-5d4c3e2f1a09")
PII_SHARE, FALSE_POSITIVE_SHARE = 0.08, 0.05
SOURCES = ("fineweb2-hq", "dclm-edu", "starcoder", "finemath", "wikipedia", "parallel")
MANAGED = SOURCES + ("planted_pii.json", "README.md")
"""What this script owns under --out; these paths are removed and rewritten on every run."""

S, F64 = pa.string(), pa.float64()
_WEB = [
    ("text", S),
    ("id", S),
    ("dump", S),
    ("url", S),
    ("date", S),
    ("file_path", S),
    ("language", S),
    ("language_score", F64),
]
SCHEMAS = {
    "fineweb2-hq": pa.schema(_WEB),
    "dclm-edu": pa.schema(_WEB + [("token_count", pa.int64())]),
    "starcoder": pa.schema(
        [("content", S), ("id", S), ("max_stars_repo_name", S), ("max_stars_repo_path", S), ("lang", S)]
    ),
    "finemath": pa.schema([("text", S), ("id", S), ("url", S), ("date", S), ("language", S)]),
    "wikipedia": pa.schema([("text", S), ("id", S), ("url", S), ("title", S), ("language", S)]),
    "parallel": pa.schema([("text", S), ("id", S), ("url", S), ("language", S)]),
}
DUMPS = tuple(
    f"CC-MAIN-{d}"
    for d in (
        "2013-20",
        "2013-48",
        "2014-10",
        "2014-42",
        "2015-22",
        "2016-07",
        "2016-44",
        "2017-13",
        "2018-09",
        "2018-47",
        "2019-13",
        "2019-35",
        "2020-29",
        "2021-17",
        "2022-05",
        "2022-40",
        "2023-14",
        "2023-50",
        "2024-10",
        "2024-33",
    )
)
OLD_DUMP, NEW_DUMP = "CC-MAIN-2014-10", "CC-MAIN-2023-50"

# --------------------------------------------------------------------------------------------
# Text banks: sentences one a line with slots {topic} {place} {year} {n}; topics, places comma-separated.


@dataclass(frozen=True)
class Bank:
    sentences: tuple[str, ...]
    topics: tuple[str, ...]
    places: tuple[str, ...]


def bank(sentences: str, topics: str, places: str) -> Bank:
    return Bank(
        tuple(s.strip() for s in sentences.strip().splitlines()),
        tuple(t.strip() for t in topics.split(",")),
        tuple(p.strip() for p in places.split(",")),
    )


BANKS = {
    "deu": bank(
        """
        Im Jahr {year} hat die Gemeinde {place} ein neues Konzept zum Thema {topic} vorgestellt.
        Nach Angaben der Verwaltung nahmen rund {n} Personen an der Informationsveranstaltung teil.
        Viele Anwohnerinnen und Anwohner begrüßen die Pläne, andere äußern deutliche Kritik.
        Die Kosten werden auf etwa {n}000 Euro geschätzt, ein Teil soll über Fördermittel gedeckt werden.
        Der Gemeinderat will im Herbst über die nächsten Schritte entscheiden.
        Beim Thema {topic} gehe es nicht nur um Geld, sondern auch um Vertrauen, sagte die Bürgermeisterin.
        In {place} und den umliegenden Ortschaften wird seit Jahren über diese Frage diskutiert.
        Fachleute empfehlen, die Erfahrungen anderer Städte genau auszuwerten.
        Ein erster Zwischenbericht soll bis Ende {year} vorliegen.
        Wer sich beteiligen möchte, kann seine Vorschläge bis zum Monatsende einreichen.
        Der Verein setzt sich seit {n} Jahren für das Thema {topic} in der Region ein.
        Die Veranstaltung findet im Saal des alten Rathauses statt, der Eintritt ist frei.
        Zahlreiche Freiwillige haben beim Aufbau geholfen und sorgten für einen reibungslosen Ablauf.
        Auch die Schulen in {place} sollen stärker einbezogen werden.""",
        "Energiewende, Stadtentwicklung, Kinderbetreuung, Wohnungsbau, Radverkehr, Denkmalschutz, "
        "Wasserversorgung, Digitalisierung, Tourismus, Landwirtschaft",
        "Freiburg, Winterthur, Bregenz, Lüneburg, Kempten, Aarau, Villach, Bamberg, Chur, Göttingen",
    ),
    "fra": bank(
        """
        En {year}, la commune de {place} a présenté un nouveau projet sur le thème « {topic} ».
        Selon la mairie, près de {n} personnes ont assisté à la réunion publique.
        Plusieurs habitants saluent l'initiative, tandis que d'autres restent sceptiques.
        Le coût total est estimé à environ {n} 000 euros, financés en partie par la région.
        Le conseil municipal doit se prononcer sur la suite du projet à l'automne.
        « Le thème {topic} nous concerne tous », a déclaré l'adjointe au maire.
        À {place}, le débat dure depuis plusieurs années déjà.
        Les spécialistes recommandent de s'inspirer des expériences menées dans d'autres villes.
        Un premier bilan sera publié d'ici la fin de l'année {year}.
        Les habitants peuvent déposer leurs propositions jusqu'à la fin du mois.
        L'association s'engage depuis {n} ans sur ce thème dans la région.
        La manifestation aura lieu dans la salle des fêtes, l'entrée est libre.
        De nombreux bénévoles ont participé à l'organisation de la journée.
        Les écoles de {place} seront également associées à la démarche.""",
        "mobilité douce, logement, patrimoine, transition énergétique, circuits courts, petite enfance, "
        "tourisme, eau potable, numérique, agriculture",
        "Annecy, Lausanne, Quimper, Colmar, Namur, Sion, Besançon, Arles, Fribourg, Chambéry",
    ),
    "ita": bank(
        """
        Nel {year} il comune di {place} ha presentato un nuovo progetto sul tema «{topic}».
        Secondo l'amministrazione, circa {n} persone hanno partecipato all'incontro pubblico.
        Molti cittadini accolgono con favore l'iniziativa, altri invece restano scettici.
        Il costo complessivo è stimato in circa {n}.000 euro, in parte coperti da fondi regionali.
        Il consiglio comunale deciderà in autunno sui prossimi passi.
        «Il tema {topic} riguarda tutti noi», ha dichiarato l'assessora.
        A {place} se ne discute ormai da diversi anni.
        Gli esperti consigliano di studiare con attenzione le esperienze di altre città.
        Un primo rapporto sarà pubblicato entro la fine del {year}.
        Chi desidera partecipare può inviare le proprie proposte entro la fine del mese.
        L'associazione si occupa di questo tema da {n} anni.
        L'evento si terrà nella sala consiliare, l'ingresso è libero.
        Numerosi volontari hanno contribuito all'organizzazione della giornata.
        Anche le scuole di {place} saranno coinvolte nel progetto.""",
        "mobilità sostenibile, edilizia abitativa, tutela del paesaggio, energia rinnovabile, turismo lento, "
        "prodotti locali, servizi per l'infanzia, acqua pubblica, digitalizzazione, agricoltura di montagna",
        "Bergamo, Lugano, Trento, Udine, Bellinzona, Mantova, Lecce, Aosta, Perugia, Como",
    ),
    "spa": bank(
        """
        En {year}, el ayuntamiento de {place} presentó un nuevo proyecto sobre el tema «{topic}».
        Según el consistorio, unas {n} personas asistieron a la reunión informativa.
        Muchos vecinos celebran la iniciativa, aunque otros se muestran escépticos.
        El coste total se estima en unos {n}.000 euros.
        El pleno municipal decidirá en otoño sobre los próximos pasos.
        En {place} este debate se mantiene desde hace años.
        Los expertos recomiendan analizar con detalle la experiencia de otras ciudades.
        La asociación trabaja en este tema desde hace {n} años.
        El acto tendrá lugar en el salón de plenos y la entrada es libre.""",
        "movilidad, vivienda, patrimonio, energías renovables, turismo, agricultura",
        "Zaragoza, Salamanca, Girona, Cádiz, Oviedo, Valencia",
    ),
    "por": bank(
        """
        Em {year}, a câmara municipal de {place} apresentou um novo projeto sobre o tema «{topic}».
        Segundo a autarquia, cerca de {n} pessoas participaram na sessão pública.
        Muitos moradores aplaudem a iniciativa, mas outros mantêm-se céticos.
        O custo total está estimado em cerca de {n} mil euros.
        A assembleia municipal deverá decidir os próximos passos no outono.
        Em {place}, o debate arrasta-se há vários anos.
        Os especialistas recomendam estudar a experiência de outras cidades.
        A associação dedica-se a este tema há {n} anos.
        O evento decorre no salão nobre e a entrada é gratuita.""",
        "mobilidade, habitação, património, energia solar, turismo, agricultura",
        "Braga, Coimbra, Évora, Aveiro, Faro, Porto",
    ),
    "nld": bank(
        """
        In {year} presenteerde de gemeente {place} een nieuw plan rond het thema {topic}.
        Volgens de gemeente kwamen ongeveer {n} mensen naar de informatieavond.
        Veel bewoners zijn positief, maar er is ook kritiek.
        De totale kosten worden geschat op zo'n {n}.000 euro.
        De gemeenteraad beslist in het najaar over de volgende stappen.
        In {place} wordt al jaren over deze kwestie gediscussieerd.
        Deskundigen raden aan om te leren van de ervaringen van andere steden.
        De vereniging zet zich al {n} jaar in voor dit thema.
        De bijeenkomst vindt plaats in het oude raadhuis; de toegang is gratis.""",
        "fietsverkeer, woningbouw, erfgoed, energietransitie, toerisme, landbouw",
        "Utrecht, Gent, Leiden, Zwolle, Brugge, Groningen",
    ),
    "pol": bank(
        """
        W {year} roku gmina {place} przedstawiła nowy projekt dotyczący tematu „{topic}”.
        Według urzędu w spotkaniu wzięło udział około {n} osób.
        Wielu mieszkańców popiera inicjatywę, inni pozostają sceptyczni.
        Całkowity koszt szacuje się na około {n} tys. złotych.
        Rada gminy zdecyduje jesienią o kolejnych krokach.
        W gminie {place} dyskusja na ten temat trwa od lat.
        Eksperci zalecają, aby uważnie przeanalizować doświadczenia innych miast.
        Stowarzyszenie zajmuje się tym tematem od {n} lat.
        Wydarzenie odbędzie się w sali ratusza, wstęp jest wolny.""",
        "transport publiczny, mieszkalnictwo, ochrona zabytków, odnawialne źródła energii, turystyka, rolnictwo",
        "Toruń, Lublin, Opole, Gdańsk, Rzeszów, Kraków",
    ),
    "rus": bank(
        """
        В {year} году администрация города {place} представила новый проект по теме «{topic}».
        По данным администрации, на встрече присутствовали около {n} человек.
        Многие жители поддерживают инициативу, но есть и критики.
        Общая стоимость оценивается примерно в {n} млн рублей.
        Городская дума примет решение о следующих шагах осенью.
        В городе {place} эта тема обсуждается уже несколько лет.
        Эксперты советуют внимательно изучить опыт других городов.
        Общественная организация занимается этой темой уже много лет.
        Мероприятие пройдёт в здании старой ратуши, вход свободный.""",
        "общественный транспорт, жильё, охрана памятников, энергосбережение, туризм, сельское хозяйство",
        "Казань, Самара, Томск, Калуга, Псков, Пермь",
    ),
    "eng": bank(
        """
        In this lesson, students learn how {topic} works and why it matters.
        The idea of {topic} was first described in detail around {year}.
        A simple experiment can help illustrate the main idea.
        For example, a class of {n} students can record their results over one week.
        Teachers often start with a short discussion to find out what students already know.
        It is important to distinguish between observations and explanations.
        Diagrams and models make abstract ideas easier to understand.
        At the end of the unit, learners should be able to explain {topic} in their own words.
        Researchers in {place} have studied this question for many years.
        Key vocabulary includes terms such as variable, evidence and hypothesis.
        Students then compare their predictions with the data they collected.
        Review questions at the end of each section help check understanding.
        Historians note that ideas about {topic} changed considerably after {year}.
        Working in small groups encourages students to ask questions and share ideas.""",
        "photosynthesis, the water cycle, plate tectonics, compound interest, the French Revolution, "
        "electric circuits, natural selection, fractions, climate zones, the immune system, supply and demand, "
        "the Roman Republic",
        "Edinburgh, Toronto, Melbourne, Leeds, Boston, Auckland, Dublin, Cardiff",
    ),
    "roh": bank(
        """
        {place} è ina vischnanca en il chantun Grischun.
        L'onn {year} han ins preschentà in nov project davart il tema {topic}.
        La vischnanca dumbra var {n} abitants.
        Il rumantsch è la lingua ufficiala da la vischnanca.
        Bleras famiglias vivan dapi generaziuns da l'agricultura.
        Il turissem è impurtant per l'economia locala.
        La baselgia dal vitg è vegnida renovada l'onn {year}.""",
        "turissem, agricultura, scola, lavur, cultura",
        "Scuol, Sedrun, Samedan, Zernez, Ilanz, Savognin, Trun, Lumbrein",
    ),
}
FINEWEB_LANGS = {
    "deu_Latn": 28,
    "fra_Latn": 22,
    "ita_Latn": 18,
    "spa_Latn": 10,
    "por_Latn": 7,
    "nld_Latn": 6,
    "pol_Latn": 5,
    "rus_Cyrl": 4,
}
TLD_LANGS = {
    "de": {"deu_Latn": 1},
    "at": {"deu_Latn": 1},
    "ch": {"deu_Latn": 6, "fra_Latn": 3, "ita_Latn": 2},
    "fr": {"fra_Latn": 1},
    "be": {"fra_Latn": 3, "nld_Latn": 2},
    "it": {"ita_Latn": 1},
}

# Carrier sentences for planted items ({v}: the value, {d}: a date); other languages get "Label: value".
CARRIERS = {
    "deu": {
        "email": "Fragen beantwortet das Sekretariat gerne per E-Mail an {v} oder telefonisch.",
        "phone": "Anmeldungen nimmt das Büro unter der Nummer {v} entgegen.",
        "iban": "Spenden bitte auf das Konto IBAN {v} (Stichwort: Jahresbeitrag) überweisen.",
        "ip": "Der Server des Vereins ist unter der Adresse {v} erreichbar (Stand {d}).",
        "isbn": "Das Begleitbuch ist im Buchhandel erhältlich (ISBN {v}).",
        "doi": "Die zugrunde liegende Studie ist online abrufbar (DOI: {v}).",
        "version": "Die Vereinssoftware wurde am {d} auf Version {v} aktualisiert.",
    },
    "fra": {
        "email": "Pour toute question, écrivez à {v} ou passez au secrétariat.",
        "phone": "Les inscriptions se font par téléphone au {v}.",
        "iban": "Les dons peuvent être versés sur le compte IBAN {v} avec la mention « cotisation ».",
        "ip": "Le serveur de l'association est joignable à l'adresse {v} depuis le {d}.",
        "isbn": "Le livre qui accompagne l'exposition est disponible en librairie (ISBN {v}).",
        "doi": "L'étude complète est disponible en ligne (DOI : {v}).",
        "version": "Le logiciel de gestion est passé à la version {v} le {d}.",
    },
    "ita": {
        "email": "Per informazioni scrivere a {v} oppure rivolgersi alla segreteria.",
        "phone": "Le iscrizioni si raccolgono al numero {v}.",
        "iban": "Le donazioni possono essere versate sul conto IBAN {v}, causale «quota annuale».",
        "ip": "Il server dell'associazione è raggiungibile all'indirizzo {v} dal {d}.",
        "isbn": "Il volume che accompagna la mostra è disponibile in libreria (ISBN {v}).",
        "doi": "Lo studio completo è consultabile online (DOI: {v}).",
        "version": "Il gestionale è stato aggiornato alla versione {v} il {d}.",
    },
    "eng": {
        "email": "If you have questions about this lesson, contact the author at {v}.",
        "phone": "To book a class visit, call {v} during school hours.",
        "iban": "Donations to the school fund can be sent to IBAN {v}.",
        "ip": "The classroom data logger is reachable at {v} since {d}.",
        "isbn": "This unit follows chapter 4 of the course textbook (ISBN {v}).",
        "doi": "The original study is available online (doi: {v}).",
        "version": "The simulation used in this lesson was updated to version {v} on {d}.",
    },
}
LABELS = {
    "email": "E-mail",
    "phone": "Tel.",
    "iban": "IBAN",
    "ip": "IP",
    "isbn": "ISBN",
    "doi": "DOI",
    "version": "Version",
}
DATE_FORMATS = {"deu": "%d.%m.%Y", "fra": "%d/%m/%Y", "ita": "%d/%m/%Y", "eng": "%Y-%m-%d"}
KIND_GROUP = {
    "email": "email",
    "phone": "phone",
    "iban": "iban",
    "false-positive-bad-iban": "iban",
    "ipv4-public": "ip",
    "ipv4-private": "ip",
    "ipv6": "ip",
    "false-positive-isbn": "isbn",
    "false-positive-doi": "doi",
    "false-positive-version": "version",
}
PEOPLE = {  # mail domain, first.last names
    "deu": ("beispiel.de", "anna.muster hans.meier lena.schmid jonas.keller"),
    "fra": ("exemple.fr", "jean.dupont claire.martin luc.bernard"),
    "ita": ("esempio.it", "mario.rossi giulia.bianchi luca.ferrari"),
    "spa": ("ejemplo.es", "lucia.garcia pablo.lopez"),
    "por": ("exemplo.pt", "joao.silva ana.santos"),
    "nld": ("voorbeeld.nl", "jan.devries eva.jansen"),
    "pol": ("przyklad.pl", "anna.kowalska piotr.nowak"),
    "rus": ("example.ru", "ivan.petrov olga.ivanova"),
    "eng": ("example.com", "john.smith emily.jones sam.taylor"),
}

# --------------------------------------------------------------------------------------------
# Planted values


def digits(rng: random.Random, k: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(k))


IBAN_EXAMPLES = {
    "DE": "DE89370400440532013000",
    "CH": "CH9300762011623852957",
    "FR": "FR1420041010050500013M02606",
    "IT": "IT60X0542811101000000123456",
    "GB": "GB29NWBK60161331926819",
}
IBAN_STYLES = ("compact", "groups-of-4", "lower-groups-of-4", "lower-compact", "mixed-case", "irregular")


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616: move country + "00" to the end, letters to numbers, 98 - (n mod 97)."""
    number = "".join(str(int(c, 36)) for c in (bban + country + "00").upper())
    return f"{98 - int(number) % 97:02d}"


def iban_is_valid(iban: str) -> bool:
    compact = iban.replace(" ", "").upper()
    return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1


def random_bban(rng: random.Random, country: str) -> str:
    if country == "DE":
        return digits(rng, 18)  # bank code 8, account 10
    if country == "CH":
        return digits(rng, 17)  # clearing 5, account 12
    if country == "FR":  # bank 5, branch 5, account 11, RIB key 2
        bank_code, branch, account = digits(rng, 5), digits(rng, 5), digits(rng, 11)
        key = 97 - (89 * int(bank_code) + 15 * int(branch) + 3 * int(account)) % 97
        return f"{bank_code}{branch}{account}{key:02d}"
    if country == "IT":  # CIN letter (random, not its own check), ABI 5, CAB 5, account 12
        return rng.choice(string.ascii_uppercase) + digits(rng, 22)
    return rng.choice(("NWBK", "BARC", "LOYD", "HBUK", "MIDL")) + digits(rng, 14)  # GB: bank, sort code, account


def format_iban(compact: str, style: str) -> str:
    grouped = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return {
        "compact": compact,
        "groups-of-4": grouped,
        "lower-groups-of-4": grouped.lower(),
        "lower-compact": compact.lower(),
        "mixed-case": grouped[0] + grouped[1:].lower(),
        "irregular": f"{compact[:4]} {compact[4:12]} {compact[12:]}",
    }[style]


def make_isbn(rng: random.Random, lang: str) -> str:
    """A valid ISBN-13 (978, registration group, publisher, title, check digit), hyphenated."""
    group = {"deu": "3", "fra": "2", "ita": "88"}.get(lang, "0")
    rest = digits(rng, 9 - len(group))
    cut = rng.randint(2, 4)
    number = "978" + group + rest
    check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(number)) % 10) % 10
    return f"978-{group}-{rest[:cut]}-{rest[cut:]}-{check}"


def make_doi(rng: random.Random) -> str:
    return rng.choice(
        (
            f"10.1000/{rng.randint(100, 999)}",
            f"10.1038/nphys{rng.randint(1000, 2999)}",
            f"10.1016/j.cell.{rng.randint(2005, 2023)}.{rng.randint(1, 12):02d}.{rng.randint(1, 60):03d}",
            f"10.5281/zenodo.{rng.randint(1000000, 9999999)}",
            f"10.1007/s{rng.randint(10000, 99999)}-0{rng.randint(10, 23)}-{rng.randint(1000, 9999)}-{rng.randint(0, 9)}",
        )
    )


def make_version(rng: random.Random) -> str:
    return rng.choice(
        (
            f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}",
            f"{rng.randint(2, 3)}.{rng.randint(6, 12)}.{rng.randint(0, 15)}",
            f"10.0.{rng.randint(19041, 19045)}.{rng.randint(1000, 4000)}",
        )
    )


def make_ipv6(rng: random.Random, form: str) -> str:
    def h() -> str:
        return f"{rng.randint(1, 0xFFFF):x}"

    if form == "full":
        return "2001:0db8:" + ":".join(f"{rng.randint(0, 0xFFFF):04x}" for _ in range(6))
    if form == "documentation":
        return f"2001:db8::{rng.choice(('1', '42', 'cafe', h()))}"
    if form == "link-local":
        return f"fe80::{rng.choice(('1', f'{h()}:{h()}:{h()}:{h()}'))}"
    return f"2a02:{h()}:{h()}::{h()}"


PHONE_PATTERNS = (
    "+41 44 ### ## ##",
    "0## ### ## ##",
    "+49 30 #######",
    "+33 1 ## ## ## ##",
    "01 ## ## ## ##",
    "+39 06 #### ####",
    "+44 20 #### ####",
)
PUBLIC_FIRST_OCTETS = (5, 31, 46, 62, 81, 85, 91, 145, 178, 185, 195, 212, 213)


class Planter:
    """Plants PII and look-alikes into a share of documents and records every item."""

    PII_KINDS = ("email", "ipv4-public", "iban", "phone", "ipv6", "ipv4-private")
    FP_KINDS = ("false-positive-isbn", "false-positive-doi", "false-positive-version", "false-positive-bad-iban")

    def __init__(self, seed: int, source: str) -> None:
        self.rng = random.Random(f"{seed}:{source}:pii")
        self.source = source
        self.pii, self.fp = itertools.cycle(self.PII_KINDS), itertools.cycle(self.FP_KINDS)
        self.ibans = itertools.cycle(itertools.product(sorted(IBAN_EXAMPLES), IBAN_STYLES))
        self.ipv6 = itertools.cycle(("full", "documentation", "link-local", "global"))
        self.examples_used: Counter[str] = Counter()
        self.items: list[dict] = []

    def value(self, kind: str, lang: str) -> str:
        rng = self.rng
        if kind == "email":
            domain, names = PEOPLE[lang]
            name = rng.choice(names.split())
            first, last = name.split(".")
            return rng.choice(
                (
                    f"{name}@{domain}",
                    f"{first[0]}.{last}@{domain}",
                    f"{first}+newsletter@{domain}",
                    f"{first.title()}.{last.title()}@mail.{domain}",
                )
            )
        if kind == "phone":
            return "".join(str(rng.randint(0, 9)) if c == "#" else c for c in rng.choice(PHONE_PATTERNS))
        if kind == "ipv4-public":
            return (
                f"{rng.choice(PUBLIC_FIRST_OCTETS)}.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            )
        if kind == "ipv4-private":
            return rng.choice(
                (
                    f"192.168.{rng.randint(0, 2)}.{rng.randint(2, 254)}",
                    f"10.0.0.{rng.randint(2, 254)}",
                    f"10.{rng.randint(1, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                    f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                )
            )
        if kind == "ipv6":
            return make_ipv6(rng, next(self.ipv6))
        if kind == "iban":
            country, style = next(self.ibans)
            if self.examples_used[country] < 2:  # the standard example (compact, in 4s), then random accounts
                self.examples_used[country] += 1
                compact = IBAN_EXAMPLES[country]
            else:
                bban = random_bban(rng, country)
                compact = country + iban_check_digits(country, bban) + bban
            assert iban_is_valid(compact), compact
            return format_iban(compact, style)
        if kind == "false-positive-bad-iban":
            country = rng.choice(sorted(IBAN_EXAMPLES))
            bban = random_bban(rng, country)
            good = int(iban_check_digits(country, bban))
            compact = f"{country}{rng.choice([c for c in range(2, 99) if c != good]):02d}{bban}"
            assert not iban_is_valid(compact), compact
            return format_iban(compact, rng.choice(("compact", "groups-of-4")))
        if kind == "false-positive-isbn":
            return make_isbn(rng, lang)
        if kind == "false-positive-doi":
            return make_doi(rng)
        return make_version(rng)

    def plant(self, doc: dict, lang: str) -> None:
        """With PII_SHARE, 1-3 PII items; independently with FALSE_POSITIVE_SHARE, 1-2 look-alikes."""
        rng = self.rng
        kinds = [next(self.pii) for _ in range(rng.randint(1, 3))] if rng.random() < PII_SHARE else []
        if rng.random() < FALSE_POSITIVE_SHARE:
            kinds += [next(self.fp) for _ in range(rng.randint(1, 2))]
        paragraphs = doc["text"].split("\n")
        for kind in kinds:
            value, group = self.value(kind, lang), KIND_GROUP[kind]
            day = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randint(0, 6900))
            day = day.strftime(DATE_FORMATS.get(lang, "%Y-%m-%d"))
            sentence = CARRIERS[lang][group].format(v=value, d=day) if lang in CARRIERS else f"{LABELS[group]}: {value}"
            i = rng.randrange(len(paragraphs))
            paragraphs[i] += " " + sentence
            self.items.append({"source": self.source, "id": doc["id"], "kind": kind, "value": value})
        doc["text"] = "\n".join(paragraphs)


# --------------------------------------------------------------------------------------------
# Web documents


def bank_key(language: str) -> str:
    """The BANKS / CARRIERS key of a `language` column value ("deu_Latn" -> "deu", "en" -> "eng")."""
    return "eng" if language == "en" else language[:3]


def weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def doc_id(source: str, serial: int) -> str:
    return f"<urn:uuid:{uuid.uuid5(UUID_NAMESPACE, f'{source}/{serial}')}>"


def paragraphs(rng: random.Random, b: Bank, target: int, place: str | None = None, limit: int = 3000) -> list[str]:
    """Paragraphs of 2-5 bank sentences (one place per document) until about `target` characters."""
    order = list(b.sentences)
    rng.shuffle(order)
    sentences, place = itertools.cycle(order), place or rng.choice(b.places)
    out: list[str] = []
    size = 0
    while size < target:
        para = " ".join(
            next(sentences).format(
                topic=rng.choice(b.topics), place=place, year=rng.randint(1990, 2023), n=rng.randint(3, 250)
            )
            for _ in range(rng.randint(2, 5))
        )
        if out and size + len(para) > limit:
            break
        out.append(para)
        size += len(para) + 1
    return out


def crawl_time(rng: random.Random, dump: str) -> dt.datetime:
    """A time in the two weeks after the dump's ISO week (CC-MAIN-YYYY-WW)."""
    start = dt.datetime.combine(dt.date.fromisocalendar(int(dump[8:12]), int(dump[13:15]), 1), dt.time())
    return start + dt.timedelta(days=rng.randint(0, 12), seconds=rng.randint(0, 86399))


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def warc_path(rng: random.Random, dump: str, when: dt.datetime) -> str:
    millis = (calendar.timegm(when.timetuple()) - rng.randint(3600, 86400)) * 1000 + rng.randint(0, 999)
    segment = f"{millis}.{rng.randint(0, 99)}"
    start = when - dt.timedelta(seconds=rng.randint(0, 7200))
    name = f"CC-MAIN-{start:%Y%m%d%H%M%S}-{start + dt.timedelta(hours=2):%Y%m%d%H%M%S}-{rng.randint(0, 99999):05d}"
    return f"s3://commoncrawl/crawl-data/{dump}/segments/{segment}/warc/{name}.warc.gz"


SECTIONS = (
    "blog",
    "news",
    "articles",
    "artikel",
    "aktuelles",
    "actualites",
    "cronaca",
    "magazin",
    "ricette",
    "recipes",
    "lokales",
    "guides",
    "wissen",
    "forum",
)
PATH_SHAPES = {
    "dated": 40,
    "section": 28,
    "section-dated": 10,
    "directory": 8,
    "private": 5,
    "pdf": 5,
    "query": 2,
    "public": 2,
}


def slug(rng: random.Random, words: tuple[str, ...]) -> str:
    text = unicodedata.normalize("NFKD", " ".join(rng.sample(words, 2))).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or f"statya-{rng.randint(100, 9999)}"


def make_url(rng: random.Random, host: str, b: Bank, when: dt.datetime, taken: set[str]) -> str:
    """A new URL on `host` whose path shape is drawn from PATH_SHAPES; unique within `taken`."""
    shape, section, base = weighted(rng, PATH_SHAPES), rng.choice(SECTIONS), slug(rng, b.topics)
    year = rng.randint(max(2005, when.year - 4), when.year)
    month = rng.randint(1, when.month if year == when.year else 12)
    scheme = "http" if when.year < 2016 and rng.random() < 0.6 else "https"
    for attempt in itertools.count(1):
        s = base if attempt == 1 else f"{base}-{attempt}"
        path = {
            "dated": f"/{year}/{month:02d}/{s}.html",
            "section": f"/{section}/{s}.html",
            "section-dated": f"/{section}/{year}/{s}",
            "directory": f"/{s}/",
            "private": f"/private/{s}.html",
            "pdf": f"/{section}/{s}.pdf",
            "query": f"/{section}/{s}.html?page={month}",
            "public": f"/public/{s}.html",
        }[shape]
        url = f"{scheme}://{host}{path}"
        if url not in taken:
            taken.add(url)
            return url
    raise AssertionError("unreachable")


def web_doc(
    rng: random.Random, source: str, serial: int, lang: str, b: Bank, url: str | None, host: str, taken: set[str]
) -> dict:
    dump = rng.choice(DUMPS)
    when = crawl_time(rng, dump)
    return {
        "text": "\n".join(paragraphs(rng, b, int(rng.triangular(300, 2700, 800)))),
        "id": doc_id(source, serial),
        "dump": dump,
        "url": url or make_url(rng, host, b, when, taken),
        "date": iso(when),
        "file_path": warc_path(rng, dump, when),
        "language": lang,
        "language_score": round(rng.uniform(0.62, 1.0), 6),
    }


# URLs on hosts whose signals are path-specific or tested in data/sample/signals (kept in fineweb2-hq).
PINNED_URLS = (
    "https://www.example-news.de/2013/05/stadtrat.html",
    "https://blog.example-news.de/2025/01/wintergarten.html",
    "https://www.ironbark-press.com.au/public/photo-essay-kimberley.html",
    "https://www.ironbark-press.com.au/features/outback.html",
    "https://www.gazzetta-del-borgo.it/ai-ok/intervista.html",
    "https://www.gazzetta-del-borgo.it/cronaca/2019/festa.html",
    "https://www.cave-des-vignes.fr/degustation.html",
    "https://www.copper-kitchen.com/recipes/sourdough-starter.html",
    "https://www.tannenhof-versand.de/katalog.html",
    "https://www.summit-tribune.com/opinion/ridge-line.html",
    "https://www.cucina-nonna.it/private/ricetta-segreta.html",
    "https://www.cucina-nonna.it/ricette/tiramisu-della-nonna.html",
    "https://www.maple-outfitters.com/guides/report.pdf",
    "https://www.maple-outfitters.com/guides/report.pdf?dl=1",
    "https://www.maison-provence.fr/documents/catalogue-2019.pdf",
    "https://www.maison-provence.fr/2018/06/lavande.html",
    "https://www.journal-savoyard.fr/articles/2016/02/neige-record.html",
    "https://www.echo-cevenol.fr/articles/2018/07/fete-du-village.html",
    "https://www.echo-cevenol.fr/agenda/marche-nocturne.html",
    "https://www.revue-normande.fr/articles/libre/entretien-pecheur.html",
    "https://www.revue-normande.fr/articles/2017/port-en-bessin.html",
    "https://www.sonnenstube.ch/magazin/2019/05/tessiner-sommer.html",
    "https://example-verlag.de/buecher/2015/herbstprogramm.html",
    "https://www.lindenkurier.de/lokales/2014/03/stadtfest.html",
    "https://www.stadtanzeiger-nord.de/lokales/2025/01/neujahrsempfang.html",
    "https://www.osteria-del-porto.it/menu/pesce-del-giorno.html",
)


@dataclass
class Source:
    name: str
    parts: list[list[dict]]
    planted: list[dict] = field(default_factory=list)
    duplicates: list[tuple[dict, dict]] = field(default_factory=list)
    bad: list[tuple[str, str, str]] = field(default_factory=list)  # (file, id, issue)


def split(rows: list[dict], k: int) -> list[list[dict]]:
    return [rows[i * len(rows) // k : (i + 1) * len(rows) // k] for i in range(k)]


def web_source(
    seed: int, name: str, hosts: list[str], count: int, pick, pinned: tuple[str, ...], n_duplicates: int
) -> tuple[list[dict], Source]:
    """`count` documents spread round-robin over the shuffled hosts (after `pinned`), duplicate URLs
    re-crawled in NEW_DUMP with the original moved to OLD_DUMP, and planted PII."""
    rng, taken, docs = random.Random(f"{seed}:{name}:docs"), set(pinned), []
    order = list(hosts)
    rng.shuffle(order)
    for i in range(count):
        url = pinned[i] if i < len(pinned) else None
        host = urlsplit(url).hostname if url else order[(i - len(pinned)) % len(order)]
        lang = pick(rng, host)
        docs.append(web_doc(rng, name, i, lang, BANKS[bank_key(lang)], url, host, taken))
    src = Source(name, [])
    for k, doc in enumerate(rng.sample(docs[len(pinned) :], n_duplicates)):
        b = BANKS[bank_key(doc["language"])]
        old, new = crawl_time(rng, OLD_DUMP), crawl_time(rng, NEW_DUMP)
        doc.update(
            dump=OLD_DUMP,
            date=iso(old),
            file_path=warc_path(rng, OLD_DUMP, old),
            url=make_url(rng, urlsplit(doc["url"]).hostname, b, old, taken),
        )
        copy = dict(
            doc, id=doc_id(name, len(docs)), dump=NEW_DUMP, date=iso(new), file_path=warc_path(rng, NEW_DUMP, new)
        )
        if k % 2:
            copy["text"] += "\n" + paragraphs(rng, b, 1)[0]
        docs.append(copy)
        src.duplicates.append((doc, copy))
    skip = {d["id"] for pair in src.duplicates for d in pair}
    planter = Planter(seed, name)
    for doc in docs:
        if doc["id"] not in skip:
            planter.plant(doc, bank_key(doc["language"]))
    src.planted = planter.items
    rng.shuffle(docs)
    return docs, src


def fineweb2(seed: int, hosts: list[str]) -> Source:
    def pick(rng: random.Random, host: str) -> str:
        local = TLD_LANGS.get(host.rsplit(".", 1)[1])
        return weighted(rng, local if local and rng.random() < 0.75 else FINEWEB_LANGS)

    count, duplicates = 1494, 6
    docs, src = web_source(seed, "fineweb2-hq", hosts, count, pick, PINNED_URLS, duplicates)
    src.parts = split(docs, 3)
    rng = random.Random(f"{seed}:fineweb2-hq:bad")
    serial = count + duplicates
    for issue in ("empty text", "empty text", "empty text", "null url", "null url", "control characters only"):
        doc = web_doc(rng, "fineweb2-hq", serial, "deu_Latn", BANKS["deu"], None, rng.choice(hosts), set())
        doc["text"] = {"empty text": "", "control characters only": "\x00\x00"}.get(issue, doc["text"])
        doc["url"] = None if issue == "null url" else doc["url"]
        src.parts[1].insert(rng.randrange(len(src.parts[1]) + 1), doc)
        src.bad.append(("fineweb2-hq/part-00001.parquet", doc["id"], issue))
        serial += 1
    return src


def dclm(seed: int, hosts: list[str]) -> Source:
    count, duplicates = 996, 4
    docs, src = web_source(seed, "dclm-edu", hosts, count, lambda rng, host: "en", (), duplicates)
    src.parts = split(docs, 2)
    rng = random.Random(f"{seed}:dclm-edu:bad")
    for serial, url in enumerate(("not a url", "/relative/path.html"), start=count + duplicates):
        doc = web_doc(rng, "dclm-edu", serial, "en", BANKS["eng"], url, "", set())
        src.parts[0].insert(rng.randrange(len(src.parts[0]) + 1), doc)
        src.bad.append(("dclm-edu/part-00000.parquet", doc["id"], f"url without a host: {url!r}"))
    for doc in itertools.chain(*src.parts):
        doc["token_count"] = len(doc["text"].encode("utf-8")) // 4
    return src


# --------------------------------------------------------------------------------------------
# Code, math, Wikipedia, parallel text

CODE = {  # lang: (extension, comment prefix, bodies as string.Template)
    "python": (
        "py",
        "#",
        (
            (
                '"""$Noun helpers."""\n\nimport socket\n\n__version__ = "$version"\nDEFAULT_HOST = "$host"\n'
                "DEFAULT_PORT = $port\n\n\ndef $fname(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> socket.socket:\n"
                '    """Open a TCP connection to the $noun service."""\n    return socket.create_connection((host, port), '
                "timeout=$timeout)\n"
            ),
            (
                'import logging\n\nlogger = logging.getLogger(__name__)\n\nALLOWED_HOSTS = ["$host", "localhost", "::1"]\n'
                'VERSION_INFO = "$version"\n\n\nclass $Cname:\n    """Keep track of $noun records."""\n\n'
                "    def __init__(self) -> None:\n        self.items: dict[str, int] = {}\n\n"
                '    def add(self, key: str, value: int = $port) -> None:\n        logger.debug("add %s=%s", key, value)\n'
                "        self.items[key] = value\n"
            ),
        ),
    ),
    "javascript": (
        "js",
        "//",
        (
            (
                'const http = require("http");\n\nconst VERSION = "$version";\nconst HOST = process.env.HOST || "$host";\n'
                'const PORT = $port;\n\nfunction $jname(req, res) {\n  res.writeHead(200, { "Content-Type": "application/json" });\n'
                "  res.end(JSON.stringify({ version: VERSION, $jname: true }));\n}\n\n"
                "http.createServer($jname).listen(PORT, HOST);\n"
            ),
        ),
    ),
    "c": (
        "c",
        "//",
        (
            (
                '#include <stdio.h>\n#include <string.h>\n\n#define VERSION "$version"\n#define DEFAULT_HOST "$host"\n'
                "#define DEFAULT_PORT $port\n\nstatic int $fname(const char *host, int port)\n{\n"
                '    printf("$noun v%s on %s:%d\\n", VERSION, host, port);\n    return strlen(host) > 0 ? 0 : -1;\n}\n\n'
                "int main(void)\n{\n    return $fname(DEFAULT_HOST, DEFAULT_PORT);\n}\n"
            ),
        ),
    ),
    "rust": (
        "rs",
        "//",
        (
            (
                'use std::net::SocketAddr;\n\npub const VERSION: &str = "$version";\n\n'
                'pub fn $fname(port: u16) -> SocketAddr {\n    format!("$host:{}", port).parse().expect("valid address")\n}\n\n'
                "#[cfg(test)]\nmod tests {\n    #[test]\n    fn parses_address() {\n"
                "        assert_eq!(super::$fname($port).port(), $port);\n    }\n}\n"
            ),
        ),
    ),
    "go": (
        "go",
        "//",
        (
            (
                'package $noun\n\nimport (\n\t"fmt"\n\t"net/http"\n)\n\nconst Version = "$version"\n'
                'const ListenAddr = "$host:$port"\n\nfunc $Cname(w http.ResponseWriter, r *http.Request) {\n'
                '\tfmt.Fprintf(w, "$noun %s\\n", Version)\n}\n'
            ),
        ),
    ),
}
CODE_LANGS = {"python": 40, "javascript": 25, "c": 15, "rust": 10, "go": 10}
NOUNS = ("cache", "session", "sensor", "invoice", "metrics", "upload", "queue", "user", "config", "report")
VERBS = ("open", "start", "handle", "load", "serve", "sync", "fetch", "check")
OWNERS = ("acme-labs", "jdoe", "mkowalski", "lrossi", "tmueller", "openfoo", "datakit", "bytecraft", "nordlicht-dev")
AUTHORS = ("Jane Doe", "Max Mustermann", "Marie Curie-Lambert", "Luca Bianchi", "Sam Taylor")


def starcoder(seed: int) -> Source:
    rng, rows, taken = random.Random(f"{seed}:starcoder"), [], set()
    while len(rows) < 400:
        lang = weighted(rng, CODE_LANGS)
        ext, comment, bodies = CODE[lang]
        noun, verb = rng.choice(NOUNS), rng.choice(VERBS)
        author = rng.choice(AUTHORS)
        email = f"{author.lower().replace(' ', '.')}@example.org"
        version = ".".join(str(rng.randint(0, 12)) for _ in range(rng.choice((3, 4, 4))))
        header = (
            f"{comment} Copyright (c) {rng.randint(2012, 2023)} {author} <{email}>\n"
            f"{comment} SPDX-License-Identifier: MIT\n\n"
        )
        body = string.Template(rng.choice(bodies)).substitute(
            noun=noun,
            Noun=noun.title(),
            fname=f"{verb}_{noun}",
            jname=f"{verb}{noun.title()}",
            Cname=f"{verb.title()}{noun.title()}",
            version=version,
            port=rng.choice((80, 443, 5000, 8000, 8080, 9090)),
            host=rng.choice(("127.0.0.1", "127.0.0.1", "0.0.0.0", "localhost")),
            timeout=rng.randint(1, 30),
        )
        repo = f"{rng.choice(OWNERS)}/{noun}-{rng.choice(('server', 'utils', 'kit', 'core', 'tools'))}"
        path = f"{'src' if rng.random() < 0.7 else 'lib'}/{verb}_{noun}.{ext}"
        if f"{repo}/{path}" in taken:
            continue
        taken.add(f"{repo}/{path}")
        rows.append(
            {
                "content": (header if rng.random() < 0.6 else "") + body,
                "id": f"starcoder/{repo}/{path}",
                "max_stars_repo_name": repo,
                "max_stars_repo_path": path,
                "lang": lang,
            }
        )
    return Source("starcoder", split(rows, 2))


def math_problem(rng: random.Random) -> tuple[str, str]:
    """(slug, worked example) with numbers that are actually right."""
    kind = rng.randrange(6)
    if kind == 0:
        r1, r2 = rng.sample(range(-9, 10), 2)
        return "quadratic-equations", (
            f"Solve $x^2 {-(r1 + r2):+d}x {r1 * r2:+d} = 0$. We need two numbers with product {r1 * r2} and sum "
            f"{-(r1 + r2)}. Factoring gives $(x {-r1:+d})(x {-r2:+d}) = 0$, so $x = {r1}$ or $x = {r2}$."
        )
    if kind == 1:
        a, b, c, x0 = rng.randint(1, 5), rng.choice((-5, -3, -2, -1, 1, 2, 4, 6)), rng.randint(1, 9), rng.randint(-3, 3)
        return "derivatives", (
            f"Let $f(x) = {a}x^3 {b:+d}x^2 {c:+d}x$. By the power rule, $f'(x) = {3 * a}x^2 {2 * b:+d}x {c:+d}$. "
            f"At $x = {x0}$ the slope of the tangent is $f'({x0}) = {3 * a * x0 * x0 + 2 * b * x0 + c}$."
        )
    if kind == 2:
        n = rng.randint(10, 200)
        return "arithmetic-series", (
            f"Find $\\sum_{{k=1}}^{{{n}}} k$. Pairing the first and last terms gives {n // 2} pairs"
            f"{'' if n % 2 == 0 else ' and a middle term'}, so the sum is "
            f"$\\frac{{{n}({n + 1})}}{{2}} = {n * (n + 1) // 2}$."
        )
    if kind == 3:
        x, y = rng.randint(-5, 9), rng.randint(-5, 9)
        a1, b1, a2, b2 = 1, rng.randint(2, 5), rng.randint(2, 5), -1
        return "linear-systems", (
            f"Solve the system $x {b1:+d}y = {a1 * x + b1 * y}$ and ${a2}x - y = {a2 * x + b2 * y}$. From the first "
            f"equation $x = {a1 * x + b1 * y} {-b1:+d}y$; substituting gives $y = {y}$ and then $x = {x}$."
        )
    if kind == 4:
        s = rng.randint(2, 12)
        p = Fraction(6 - abs(s - 7), 36)
        return "probability", (
            f"Two fair dice are rolled. There are {6 - abs(s - 7)} outcomes out of 36 with sum {s}, so "
            f"$P(\\text{{sum}} = {s}) = \\frac{{{p.numerator}}}{{{p.denominator}}} \\approx {float(p):.3f}$."
        )
    k, (a, b, c) = rng.randint(1, 4), rng.choice(((3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25)))
    return "pythagoras", (
        f"A right triangle has legs {a * k} cm and {b * k} cm. Then $c = \\sqrt{{{a * k}^2 + {b * k}^2}} = "
        f"\\sqrt{{{(c * k) ** 2}}} = {c * k}$ cm."
    )


def finemath(seed: int, hosts: list[str]) -> Source:
    rng, rows, taken = random.Random(f"{seed}:finemath"), [], set()
    order = list(hosts)
    rng.shuffle(order)
    for i in range(300):
        problems = [math_problem(rng) for _ in range(rng.randint(1, 5))]
        parts = [f"Worked examples: {problems[0][0].replace('-', ' ')}"]
        parts += [f"Exercise {rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 20)}. {p}" for _, p in problems]
        if rng.random() < 0.35:
            parts.append(
                f"Source: Calculus and Algebra, {rng.randint(2, 9)}th ed., Section "
                f"{rng.randint(1, 12)}.{rng.randint(1, 9)}.{rng.randint(1, 9)} (ISBN {make_isbn(rng, 'eng')})."
            )
        if rng.random() < 0.25:
            parts.append(f"See also doi:{make_doi(rng)}.")
        if rng.random() < 0.15:
            parts.append(
                f"(This is Lemma {'.'.join(str(rng.randint(1, 9)) for _ in range(4))} in the lecture notes, "
                f"v{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.)"
            )
        when = crawl_time(rng, rng.choice(DUMPS))
        section = rng.choice(("math", "mathe", "maths", "lernen", "exercices", "esercizi", "blog"))
        url = f"https://{order[i % len(order)]}/{section}/{problems[0][0]}-{rng.randint(1, 999)}.html"
        while url in taken:
            url = url.replace(".html", "-2.html")
        taken.add(url)
        rows.append(
            {"text": "\n\n".join(parts), "id": doc_id("finemath", i), "url": url, "date": iso(when), "language": "en"}
        )
    return Source("finemath", split(rows, 2))


WIKI = {  # language: (bank, article count, lead sentence, "topic in place" pattern, section titles)
    "de": (
        "deu",
        80,
        "{title} ist ein Thema der Lokalgeschichte von {place}, dokumentiert seit {year}.",
        "{topic} in {place}",
        ("Geschichte", "Geographie", "Wirtschaft", "Literatur"),
    ),
    "fr": (
        "fra",
        70,
        "{title} est un sujet de l'histoire locale de {place}, documenté depuis {year}.",
        "{topic} à {place}",
        ("Histoire", "Géographie", "Économie", "Bibliographie"),
    ),
    "it": (
        "ita",
        60,
        "{title} è un tema della storia locale di {place}, documentato dal {year}.",
        "{topic} a {place}",
        ("Storia", "Geografia", "Economia", "Bibliografia"),
    ),
    "en": (
        "eng",
        60,
        "{title} is a topic in the local history of {place}, documented since {year}.",
        "{topic} in {place}",
        ("History", "Geography", "Economy", "Further reading"),
    ),
    "rm": (
        "roh",
        30,
        "{title} è in tema da l'istorgia locala da {place}, documentà dapi {year}.",
        "{topic} a {place}",
        ("Istorgia", "Geografia", "Economia", "Litteratura"),
    ),
}


def wikipedia(seed: int) -> Source:
    rng, rows, page_ids = random.Random(f"{seed}:wikipedia"), [], set()
    for lang, (key, count, lead, pattern, sections) in WIKI.items():
        b = BANKS[key]
        titles = list(b.places) + [
            pattern.format(topic=t[0].upper() + t[1:], place=p) for t in b.topics for p in b.places
        ]
        for title in rng.sample(titles, count):
            place = next((p for p in b.places if p in title), rng.choice(b.places))
            text = [title, lead.format(title=title, place=place, year=rng.randint(1950, 2015))]
            for section in rng.sample(sections, rng.randint(1, 3)):
                text += [section, "\n".join(paragraphs(rng, b, rng.randint(200, 900), place))]
            page_id = rng.randint(10_000, 12_000_000)
            while page_id in page_ids:
                page_id += 1
            page_ids.add(page_id)
            rows.append(
                {
                    "text": "\n\n".join(text),
                    "id": f"{lang}wiki/{page_id}",
                    "title": title,
                    "language": lang,
                    "url": f"https://{lang}.wikipedia.org/wiki/{quote(title.replace(' ', '_'))}",
                }
            )
    return Source("wikipedia", [rows])


PARALLEL = (  # en, de, fr, it with slots {place} {n} {year} {h}
    (
        "The debate on the situation in {place} is closed.",
        "Die Aussprache über die Lage in {place} ist geschlossen.",
        "Le débat sur la situation à {place} est clos.",
        "La discussione sulla situazione a {place} è chiusa.",
    ),
    (
        "The vote will take place tomorrow at {h} o'clock.",
        "Die Abstimmung findet morgen um {h} Uhr statt.",
        "Le vote aura lieu demain à {h} heures.",
        "La votazione si svolgerà domani alle ore {h}.",
    ),
    (
        "Madam President, I would like to thank the rapporteur for her excellent work.",
        "Frau Präsidentin, ich möchte der Berichterstatterin für ihre hervorragende Arbeit danken.",
        "Madame la Présidente, je tiens à remercier la rapporteure pour son excellent travail.",
        "Signora Presidente, desidero ringraziare la relatrice per l'ottimo lavoro svolto.",
    ),
    (
        "The Commission adopted the proposal in {year}.",
        "Die Kommission hat den Vorschlag im Jahr {year} angenommen.",
        "La Commission a adopté la proposition en {year}.",
        "La Commissione ha adottato la proposta nel {year}.",
    ),
    (
        "More than {n} million citizens are affected by this decision.",
        "Mehr als {n} Millionen Bürgerinnen und Bürger sind von dieser Entscheidung betroffen.",
        "Plus de {n} millions de citoyens sont concernés par cette décision.",
        "Più di {n} milioni di cittadini sono interessati da questa decisione.",
    ),
    (
        "We must not forget the regions that depend on agriculture.",
        "Wir dürfen die Regionen nicht vergessen, die von der Landwirtschaft abhängen.",
        "Nous ne devons pas oublier les régions qui dépendent de l'agriculture.",
        "Non dobbiamo dimenticare le regioni che dipendono dall'agricoltura.",
    ),
    (
        "The minutes of the previous sitting have been distributed.",
        "Das Protokoll der vorangegangenen Sitzung wurde verteilt.",
        "Le procès-verbal de la séance précédente a été distribué.",
        "Il processo verbale della seduta precedente è stato distribuito.",
    ),
    (
        "This is why my group will vote in favour of the amendment.",
        "Deshalb wird meine Fraktion für den Änderungsantrag stimmen.",
        "C'est pourquoi mon groupe votera en faveur de l'amendement.",
        "Per questo motivo il mio gruppo voterà a favore dell'emendamento.",
    ),
    (
        "The funding for {place} amounts to {n} million euros.",
        "Die Mittel für {place} belaufen sich auf {n} Millionen Euro.",
        "Le financement pour {place} s'élève à {n} millions d'euros.",
        "Il finanziamento per {place} ammonta a {n} milioni di euro.",
    ),
)
PARALLEL_PLACES = (
    ("Brussels", "Brüssel", "Bruxelles", "Bruxelles"),
    ("Strasbourg", "Straßburg", "Strasbourg", "Strasburgo"),
    ("Lisbon", "Lissabon", "Lisbonne", "Lisbona"),
    ("Warsaw", "Warschau", "Varsovie", "Varsavia"),
    ("Athens", "Athen", "Athènes", "Atene"),
    ("Vienna", "Wien", "Vienne", "Vienna"),
)


def parallel(seed: int) -> Source:
    rng, rows, taken = random.Random(f"{seed}:parallel"), [], set()
    for i in range(300):
        pair = rng.choice(("en-de", "en-de", "en-fr", "en-it"))
        col = {"de": 1, "fr": 2, "it": 3}[pair[3:]]
        en, xx = [], []
        for row in rng.sample(PARALLEL, rng.randint(2, 6)):
            place = rng.choice(PARALLEL_PLACES)
            slots = {"n": rng.randint(2, 90), "year": rng.randint(1999, 2023), "h": rng.randint(9, 12)}
            en.append(row[0].format(place=place[0], **slots))
            xx.append(row[col].format(place=place[col], **slots))
        day = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randint(0, 8700))
        doc = f"CRE-{5 + (day.year - 1999) // 5}-{day:%Y-%m-%d}-ITM-{rng.randint(1, 30):03d}"
        while doc in taken:
            doc += "-2"
        taken.add(doc)
        rows.append(
            {
                "text": f"EN: {' '.join(en)}\n{pair[3:].upper()}: {' '.join(xx)}",
                "id": f"europarl/{pair}/{i:05d}",
                "url": f"https://www.europarl.europa.eu/doceo/document/{doc}.html",
                "language": pair,
            }
        )
    return Source("parallel", [rows])


# --------------------------------------------------------------------------------------------


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{k: row[k] for k in schema.names} for row in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


def generate(out: Path, seed: int) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    for name in MANAGED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    hosts = sorted(HOSTS_FILE.read_text(encoding="utf-8").split())
    assert all(urlsplit(u).hostname in hosts for u in PINNED_URLS)
    sources = [
        fineweb2(seed, hosts),
        dclm(seed, hosts),
        starcoder(seed),
        finemath(seed, hosts),
        wikipedia(seed),
        parallel(seed),
    ]
    for src in sources:
        ids = [row["id"] for part in src.parts for row in part]
        urls = [row["url"] for part in src.parts for row in part if row.get("url")]
        assert len(ids) == len(set(ids)) and len(urls) - len(set(urls)) == len(src.duplicates), src.name
        for i, part in enumerate(src.parts):
            write_parquet(out / src.name / f"part-{i:05d}.parquet", part, SCHEMAS[src.name])
    planted = sorted(
        (item for src in sources for item in src.planted),
        key=lambda it: (it["source"], it["id"], it["kind"], it["value"]),
    )
    body = ",\n".join(json.dumps(item, ensure_ascii=False) for item in planted)  # one item a line
    (out / "planted_pii.json").write_text(f"[\n{body}\n]\n", encoding="utf-8")
    (out / "README.md").write_text(readme(seed, hosts, sources, planted), encoding="utf-8")
    return {src.name: sum(map(len, src.parts)) for src in sources} | {"planted": len(planted)}


def readme(seed: int, hosts: list[str], sources: list[Source], planted: list[dict]) -> str:
    rows = {src.name: [row for part in src.parts for row in part] for src in sources}
    what = {
        "fineweb2-hq": "multilingual web text (FineWeb-2 columns); mostly German, French, Italian",
        "dclm-edu": "English educational web text (FineWeb columns + `token_count` = UTF-8 bytes // 4)",
        "starcoder": "code snippets from templates; no `url` (not subject to URL opt-out)",
        "finemath": "math web text with worked examples (LaTeX), section numbers, ISBNs and DOIs",
        "wikipedia": "articles in de, fr, it, en, rm; wikipedia.org is not in hosts.txt (no signal: kept)",
        "parallel": "Europarl-like sentence pairs, `EN: ...\\nXX: ...`, urls on www.europarl.europa.eu",
    }
    lines = [
        "# Sample training sources",
        "",
        "Synthetic, deterministic parquet files shaped like the sources of the Apertus Stage-5 pretraining",
        "mix. Texts are assembled from sentence banks in the generator; hosts, people and accounts are made up.",
        "",
        f"Generated by `python scripts/make_sample_sources.py` (seed {seed}). Do not edit by hand: change",
        "the script and regenerate. Two runs give byte-identical files (fixed seed, sorted iteration, uuid5",
        "ids, no clock time); the parquet bytes also depend on the pyarrow version. Files are zstd-compressed.",
        "",
        "```",
        "python scripts/make_sample_sources.py            # writes data/sample/sources/",
        f"python scripts/make_sample_sources.py --out /tmp/sources --seed {seed}",
        "```",
        "",
        "## Files",
        "",
        "| path | rows | what it is |",
        "| --- | --- | --- |",
    ]
    for src in sources:
        files = ", ".join(f"`part-{i:05d}.parquet` ({len(p)})" for i, p in enumerate(src.parts))
        lines.append(f"| `{src.name}/` {files} | {len(rows[src.name])} | {what[src.name]} |")
    lines += [
        "| `planted_pii.json` | " + str(len(planted)) + " | every planted item: sorted list of "
        "`{source, id, kind, value}` |",
        "",
        "## Columns",
        "",
    ]
    lines += [f"- `{name}`: " + ", ".join(f"`{f.name}: {f.type}`" for f in schema) for name, schema in SCHEMAS.items()]
    web = ("fineweb2-hq", "dclm-edu", "finemath")
    lines += [
        "",
        "## URLs",
        "",
        f"Web documents use the {len(hosts)} hosts of `data/sample/signals/hosts.txt` (see the README there for",
        "which host blocks what), assigned round-robin over a shuffled host list, so every host has documents:",
        "",
        "| source | hosts used | documents per host | `/private/` | `.pdf` | `/public/` | with a query |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in web:
        urls = [r["url"] for r in rows[name] if r["url"] and "://" in r["url"]]
        per_host = Counter(urlsplit(u).hostname for u in urls)
        paths = [urlsplit(u) for u in urls]
        lines.append(
            f"| {name} | {len(per_host)} | {min(per_host.values())}-{max(per_host.values())} | "
            f"{sum('/private/' in p.path for p in paths)} | {sum(p.path.endswith('.pdf') for p in paths)} | "
            f"{sum(p.path.startswith('/public/') for p in paths)} | {sum(bool(p.query) for p in paths)} |"
        )
    lines += [
        "",
        "`fineweb2-hq` also has one document on each of these URLs, chosen for path-specific rules, page-level",
        "signals and rights-holder prefixes in `data/sample/signals` (`data/sample/demo-urls.txt` is among them):",
        "",
    ]
    lines += [f"- `{u}`" for u in PINNED_URLS]
    lines += [
        "",
        "Crawl dates follow the dump (CC-MAIN-YYYY-WW: the two weeks after ISO week WW); older crawls are",
        "kept on purpose, since opt-outs apply retroactively. Documents per crawl year:",
        "",
        "| source | " + " | ".join(str(y) for y in range(2013, 2025)) + " |",
        "| --- |" + " --- |" * 12,
    ]
    for name in web:
        years = Counter(r["date"][:4] for r in rows[name])
        lines.append(f"| {name} | " + " | ".join(str(years[str(y)]) for y in range(2013, 2025)) + " |")
    langs = Counter(r["language"] for r in rows["fineweb2-hq"])
    lines += [
        "",
        "`fineweb2-hq` languages (mostly from the host's country code, else drawn by weight): "
        + ", ".join(f"`{k}` {v}" for k, v in sorted(langs.items(), key=lambda kv: (-kv[1], kv[0])))
        + ".",
        "`wikipedia`: "
        + ", ".join(f"`{k}` {v[1]}" for k, v in WIKI.items())
        + ". `parallel`: "
        + ", ".join(f"`{k}` {v}" for k, v in sorted(Counter(r["language"] for r in rows["parallel"]).items()))
        + ".",
        "",
        "## Same URL in two crawls",
        "",
        f"The same page crawled in `{OLD_DUMP}` and `{NEW_DUMP}` (different `id`, `dump`, `date`, `file_path`).",
        "Both copies must go when the host opts out, whatever the crawl date.",
        "",
        "| source | url | old id | new id | text |",
        "| --- | --- | --- | --- | --- |",
    ]
    for src in sources:
        for old, new in src.duplicates:
            same = "identical" if old["text"] == new["text"] else "new copy has one more paragraph"
            lines.append(f"| {src.name} | `{old['url']}` | `{old['id']}` | `{new['id']}` | {same} |")
    lines += ["", "## Bad input", "", "| file | id | issue |", "| --- | --- | --- |"]
    lines += [f"| `{f}` | `{i}` | {issue} |" for src in sources for f, i, issue in src.bad]
    lines += [
        "",
        'The `control characters only` text is `"\\x00\\x00"`: empty once control characters are stripped.',
        "",
        "## Planted PII and look-alikes",
        "",
        f"In `fineweb2-hq` and `dclm-edu`, about {PII_SHARE:.0%} of documents get 1-3 PII items and, independently,",
        f"about {FALSE_POSITIVE_SHARE:.0%} get 1-2 look-alikes that must NOT be masked; each sits in a carrier",
        "sentence in the document's language (`Label: value` for es, pt, nl, pl, ru), with a date nearby for IPs and",
        "versions. The two copies of a duplicated URL and the bad-input rows have none.",
        "`planted_pii.json` lists every item; `value` is the exact substring of `text`.",
        "",
    ]
    kinds = Planter.PII_KINDS + Planter.FP_KINDS
    count = Counter((p["source"], p["kind"]) for p in planted)
    docs = {name: len({p["id"] for p in planted if p["source"] == name}) for name in ("fineweb2-hq", "dclm-edu")}
    lines += ["| kind | fineweb2-hq | dclm-edu | example |", "| --- | --- | --- | --- |"]
    for kind in sorted(kinds):
        example = next(p["value"] for p in planted if p["kind"] == kind)
        lines.append(f"| {kind} | {count['fineweb2-hq', kind]} | {count['dclm-edu', kind]} | `{example}` |")
    lines += [
        f"| documents with an item | {docs['fineweb2-hq']} | {docs['dclm-edu']} | |",
        "",
        "- `iban`: valid ISO 13616 check digits (mod 97) for DE, CH, FR, GB, IT, cycling through the styles "
        + ", ".join(f"`{s}`" for s in IBAN_STYLES)
        + (
            "; the first two of each country are the standard example, compact and in 4s "
            "(`DE89370400440532013000`, `DE89 3704 0044 0532 0130 00`, ...). French RIB keys are valid; "
            "Italian CIN letters are random."
        ),
        "- `false-positive-bad-iban`: an IBAN shape whose check digits are wrong (fails mod 97).",
        (
            "- `ipv6`: full form (`2001:0db8:...`), compressed documentation (`2001:db8::1`), link-local "
            "(`fe80::1`), compressed global (`2a02:...::...`)."
        ),
        (
            "- `false-positive-version`: `v2.4.1`, `3.11.4` and Windows builds `10.0.19045.3803` "
            "(not an IPv4: 19045 > 255)."
        ),
        (
            "- `false-positive-isbn`: valid hyphenated ISBN-13 (value without the `ISBN ` label); "
            "`false-positive-doi`: `10.1000/182`-like."
        ),
        "",
        "### Look-alikes in code and math (PII masking is off for these sources)",
        "",
    ]
    code = [r["content"] for r in rows["starcoder"]]
    four_part = re.compile(r'(?i)version\w*(?: =|:| )[^"\n]*"\d+\.\d+\.\d+\.\d+"')
    math = [r["text"] for r in rows["finemath"]]
    with_email, loopback, any_host = (sum(x in c for c in code) for x in ("@example.org>", "127.0.0.1", "0.0.0.0"))
    lines += [
        (
            f"- `starcoder` ({len(code)} snippets): {with_email} with an e-mail in the license header, {loopback} with "
            f"`127.0.0.1`, {any_host} with `0.0.0.0`, {sum(bool(four_part.search(c)) for c in code)} with a "
            'four-part version string like `"1.2.3.4"` (an IPv4 shape).'
        ),
        (
            f"- `finemath` ({len(math)} documents): every exercise is numbered `a.b.c`; {sum('ISBN' in t for t in math)} "
            f"cite an ISBN, {sum('doi:' in t for t in math)} a DOI, {sum('Lemma' in t for t in math)} a four-part lemma "
            "number such as `1.2.3.4`."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    stats = generate(args.out, args.seed)
    print(f"wrote {args.out}: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
