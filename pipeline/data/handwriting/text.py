"""The handwriting alphabet, text to labels and back, and generated English to render."""
import re

import numpy as np

from pipeline import PipelineError

ALPHABET = "\x00" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.,-()/"
INDEX = {c: i for i, c in enumerate(ALPHABET)}
UNKNOWN = -1
FIG4_TEXT = "hello friends my name is Bob and machine learning is very cool while useful"


_REPLACE = str.maketrans({"\u2018": "'", "\u2019": "'", '"': "'", "`": "'", ";": ",", ":": ",",
                          "!": ".", "?": ".", "[": "(", "]": ")", "{": "(", "}": ")", "_": "-",
                          "\u2013": "-", "\u2014": "-", "\\": "/"})


def clean_text(text):
    """Map punctuation outside the alphabet to its nearest member, drop the rest, one space between words."""
    text = str(text).translate(_REPLACE)
    text = "".join(c if (c in INDEX and c != "\x00") else (" " if c.isspace() else "") for c in text)
    return " ".join(text.split())


def encode_text(text):
    """int64 alphabet indices of `text`; a space becomes 0 (no character)."""
    bad = sorted({c for c in text if c != " " and (c not in INDEX or c == "\x00")})
    if bad:
        raise PipelineError(f"characters {''.join(bad)!r} are not in the handwriting alphabet; "
                            f"use letters, digits and ' . , - ( ) /")
    return np.array([0 if c == " " else INDEX[c] for c in text], dtype=np.int64)


def decode(y, eoc=None):
    """Text from per-step labels.  With `eoc`, one character per end-of-character step (exact);
    without, runs of equal labels collapse (doubled letters merge).  Label-0 runs become spaces."""
    y = np.asarray(y).reshape(-1)
    ends = np.ones(len(y), bool) if eoc is None else np.asarray(eoc).reshape(-1) > 0.5
    out, gap, prev = [], False, None
    for t, label in enumerate(y):
        if label == 0:
            gap, prev = bool(out), 0
            continue
        if label < 0 or not ends[t] or (eoc is None and label == prev):
            continue
        if gap:
            out.append(" ")
        out.append(ALPHABET[label])
        gap, prev = False, label
    return "".join(out)


# A small sentence grammar: everyday English with names, numbers, dates, codes and
# punctuation, so that every character of the alphabet occurs often.
_WORDS = {
    "Name": "Alice Bob Carol David Emma Frank Grace Henry Iris Jack Kate Leo Maria Nina Oscar Paul "
            "Quentin Rosa Sam Tom Uma Victor Wendy Xavier Yara Zoe Olga Ivan Hugo Beth",
    "Surname": "Smith Jones Brown Quinn Young Zimmer Kelly Walker Ortiz Xu Vance Hughes Fox Lane "
               "Dixon Jensen Ford Reyes Usher Grant Ibsen Moss Patel Nolan Evans Yates",
    "place": "London Paris York Oxford Zurich Quebec Vienna Jakarta Kyoto Bristol Glasgow Madrid "
             "Oslo Utrecht Lisbon Denver Houston Geneva Warsaw Naples Turin Exeter",
    "noun": "house garden letter window river machine teacher market jacket puzzle zebra question "
            "quarter journey friend doctor box picture story kitchen village engine bottle clock "
            "bridge paper ticket museum valley forest island harbour jazz band piano parcel "
            "message number pencil island camera wagon yacht kettle lamp oxygen tank prize",
    "nouns": "houses letters windows machines friends apples boxes tickets stories questions "
             "rivers bottles papers songs jokes pictures keys gifts maps books boats lamps prizes",
    "adj": "quiet quick lazy amazing frozen bright heavy small useful cool yellow old new happy "
           "strange noisy gentle major anxious empty clever narrow wooden excellent famous dizzy",
    "adv": "very quietly quickly exactly rather slowly almost simply really nearly gladly",
    "verb": "found opened painted moved fixed carried visited watched joined quoted mixed packed "
            "wrote sold kept built froze judged explained borrowed dropped signed",
    "verbs": "likes writes keeps needs sends finds brings wants checks fixes opens reads",
}
_WORDS = {k: v.split() for k, v in _WORDS.items()}
_TEMPLATES = [
    "{Name} {verb} the {adj} {noun} near {place} on {date}.",
    "{Name} {Surname} {verb} {num} {nouns} (about {pct} of them were {adj}).",
    "The {noun} in room {code} is {adv} {adj}, said {Name}.",
    "Please call {Name} at {phone} before {time} on {date}.",
    "My name is {Name} and I think machine learning is very cool while useful.",
    "It's {adv} {adj}, but {Name}'s {noun} {verbs} {num} {nouns}.",
    "See page {num}, lines {num}-{num} (and/or the notes from {year}).",
    "In {year} the {noun} cost {price}, or {frac} of the old price.",
    "Hello friends, {Name} {verb} a {adj} {noun} in {place}.",
    "We don't know why the {noun} was {adj} ({Name} {verb} it in {year}).",
    "Flight {code} to {place} leaves at {time}, gate {num}.",
    "{Name} {verbs} {adj} {nouns}, and {Name} {verbs} the {adj} {noun}.",
    "The quick brown fox jumps over the lazy dog.",
    "Jack's {adj} {noun} is {num} metres long, {frac} of it {adj}.",
    "Order no. {code}/{num} was sent to {Name} {Surname}, {place}.",
    "Why did the {adj} {noun} move? {Name} {verb} it, of course.",
    "One {adj} {noun}, two {adj} {nouns} and {num} {nouns} - that is all.",
    "{Name} {Surname} (born {date}) {verb} {num} {adj} {nouns} in {place}.",
]


def _slot(name, rng):
    if name in _WORDS:
        return str(rng.choice(_WORDS[name]))
    i = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731
    if name == "num":
        return str(i(2, 100) if rng.random() < 0.8 else i(100, 10000))
    if name == "year":
        return str(i(1900, 2026))
    if name == "date":
        return f"{i(1, 29)}/{i(1, 13):02d}/{i(1950, 2026)}"
    if name == "time":
        return f"{i(6, 23)}.{rng.choice(['00', '15', '30', '45'])}"
    if name == "price":
        return f"{i(1, 500)}.{i(0, 100):02d}"
    if name == "frac":
        return f"{i(1, 4)}/{i(4, 10)}"
    if name == "pct":
        return f"{i(5, 96)} per cent"
    if name == "code":
        return "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), size=2)) + f"-{i(1, 999)}"
    if name == "phone":
        return f"0{i(100, 999)}-{i(100, 999)}-{i(1000, 9999)}"
    raise KeyError(name)


def make_text(rng, n_sentences=3):
    """A paragraph of generated English sentences, already in the alphabet."""
    sentences = [re.sub(r"\{(\w+)\}", lambda m: _slot(m.group(1), rng),
                        _TEMPLATES[rng.integers(len(_TEMPLATES))]) for _ in range(n_sentences)]
    return clean_text(" ".join(sentences))
