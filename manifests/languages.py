"""Language codes and names for the documents: FineWeb-2 labels (``deu_Latn``), ISO 639-1
labels (``de``) and programming languages of code sources, in one table."""

# ISO 639-3 code -> English name; ISO 639-1 codes map to ISO 639-3. Labels outside the table are
# reported with their code (FineWeb-2 alone has over a thousand), never dropped.
LANGUAGE_NAMES = {
    "afr": "Afrikaans", "als": "Albanian", "sqi": "Albanian", "amh": "Amharic", "ara": "Arabic", "arb": "Arabic",
    "hye": "Armenian", "aze": "Azerbaijani", "azj": "Azerbaijani", "eus": "Basque", "bel": "Belarusian",
    "ben": "Bengali", "bos": "Bosnian", "bre": "Breton", "bul": "Bulgarian", "cat": "Catalan", "ces": "Czech",
    "cmn": "Chinese (Mandarin)", "zho": "Chinese", "hrv": "Croatian", "dan": "Danish", "nld": "Dutch",
    "eng": "English", "epo": "Esperanto", "est": "Estonian", "ekk": "Estonian", "fil": "Filipino", "fin": "Finnish",
    "fra": "French", "glg": "Galician", "kat": "Georgian", "deu": "German", "gsw": "Swiss German", "ell": "Greek",
    "guj": "Gujarati", "heb": "Hebrew", "hin": "Hindi", "hun": "Hungarian", "isl": "Icelandic", "ind": "Indonesian",
    "gle": "Irish", "ita": "Italian", "jpn": "Japanese", "kan": "Kannada", "kaz": "Kazakh", "khm": "Khmer",
    "kor": "Korean", "kir": "Kyrgyz", "lao": "Lao", "lat": "Latin", "lav": "Latvian", "lvs": "Latvian",
    "lit": "Lithuanian", "ltz": "Luxembourgish", "mkd": "Macedonian", "msa": "Malay", "zsm": "Malay",
    "mal": "Malayalam", "mlt": "Maltese", "mar": "Marathi", "mon": "Mongolian", "khk": "Mongolian",
    "nep": "Nepali", "npi": "Nepali", "nor": "Norwegian", "nob": "Norwegian Bokmål", "nno": "Norwegian Nynorsk",
    "fas": "Persian", "pes": "Persian", "pol": "Polish", "por": "Portuguese", "pan": "Punjabi", "ron": "Romanian",
    "roh": "Romansh", "rus": "Russian", "srp": "Serbian", "sin": "Sinhala", "slk": "Slovak", "slv": "Slovenian",
    "spa": "Spanish", "swa": "Swahili", "swh": "Swahili", "swe": "Swedish", "tgl": "Tagalog", "tam": "Tamil",
    "tel": "Telugu", "tha": "Thai", "tur": "Turkish", "ukr": "Ukrainian", "urd": "Urdu", "uzb": "Uzbek",
    "uzn": "Uzbek", "vie": "Vietnamese", "cym": "Welsh", "yid": "Yiddish", "yor": "Yoruba", "zul": "Zulu",
}
ISO_639_1 = {
    "af": "afr", "sq": "sqi", "am": "amh", "ar": "ara", "hy": "hye", "az": "aze", "eu": "eus", "be": "bel",
    "bn": "ben", "bs": "bos", "br": "bre", "bg": "bul", "ca": "cat", "cs": "ces", "zh": "zho", "hr": "hrv",
    "da": "dan", "nl": "nld", "en": "eng", "eo": "epo", "et": "est", "fi": "fin", "fr": "fra", "gl": "glg",
    "ka": "kat", "de": "deu", "el": "ell", "gu": "guj", "he": "heb", "hi": "hin", "hu": "hun", "is": "isl",
    "id": "ind", "ga": "gle", "it": "ita", "ja": "jpn", "kn": "kan", "kk": "kaz", "km": "khm", "ko": "kor",
    "ky": "kir", "lo": "lao", "la": "lat", "lv": "lav", "lt": "lit", "lb": "ltz", "mk": "mkd", "ms": "msa",
    "ml": "mal", "mt": "mlt", "mr": "mar", "mn": "mon", "ne": "nep", "no": "nor", "nb": "nob", "nn": "nno",
    "fa": "fas", "pl": "pol", "pt": "por", "pa": "pan", "ro": "ron", "rm": "roh", "ru": "rus", "sr": "srp",
    "si": "sin", "sk": "slk", "sl": "slv", "es": "spa", "sw": "swa", "sv": "swe", "tl": "tgl", "ta": "tam",
    "te": "tel", "th": "tha", "tr": "tur", "uk": "ukr", "ur": "urd", "uz": "uzb", "vi": "vie", "cy": "cym",
    "yi": "yid", "yo": "yor", "zu": "zul",
}
# Individual-language codes that FineWeb-2 uses, folded into the macrolanguage a reader knows.
MACROLANGUAGE = {"arb": "ara", "als": "sqi", "azj": "aze", "ekk": "est", "lvs": "lav", "zsm": "msa", "khk": "mon",
          "npi": "nep", "pes": "fas", "swh": "swa", "uzn": "uzb", "cmn": "zho", "nob": "nor", "nno": "nor"}
PROGRAMMING_LANGUAGES = {
    "python": "Python", "javascript": "JavaScript", "js": "JavaScript", "typescript": "TypeScript", "java": "Java",
    "c": "C", "c++": "C++", "cpp": "C++", "c#": "C#", "c-sharp": "C#", "csharp": "C#", "go": "Go", "rust": "Rust",
    "ruby": "Ruby", "php": "PHP", "shell": "Shell", "bash": "Shell", "sql": "SQL", "html": "HTML", "css": "CSS",
    "kotlin": "Kotlin", "swift": "Swift", "scala": "Scala", "r": "R", "julia": "Julia", "lua": "Lua",
    "perl": "Perl", "haskell": "Haskell", "markdown": "Markdown", "json": "JSON", "yaml": "YAML",
    "fortran": "Fortran", "matlab": "MATLAB", "tex": "TeX", "jupyter-notebook": "Jupyter Notebook",
}


ISO_639_3_TO_1 = {individual: iso1 for iso1, iso3 in ISO_639_1.items()
                  for individual, macro in MACROLANGUAGE.items() if macro == iso3} | {
    iso3: iso1 for iso1, iso3 in ISO_639_1.items()}
"""ISO 639-3 (FineWeb-2's ``deu_Latn``) to ISO 639-1 where one exists, individual languages through
their macrolanguage (``arb`` -> ``ar``)."""
