"""A deterministic made-up world that a tiny model can learn and an evaluation can probe.

The corpus is part of the package: the same package version yields the same bytes on every
machine (pinned by a digest test). It describes 24 countries and 96 people; each of the 360
facts has six phrasings with the answer at the end. For every fact one phrasing is held out
of all documents and becomes its recall probe, and 5% of the documents are held out as the
evaluation text.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache

SEED = 20261122
NUM_COUNTRIES = 24
NUM_PEOPLE = 96
HELDOUT_DOC_SHARE = 0.05
TARGET_BYTES = 2_000_000

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
           "kl", "st", "tr", "sh"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "m"]

PROFESSIONS = ["baker", "carpenter", "doctor", "fisher", "gardener", "painter", "pilot",
               "teacher", "weaver", "singer", "miner", "tailor"]
LANGUAGES_SUFFIX = "ish"
CURRENCY_SUFFIX = "ar"
ACTIVITIES = ["walks along the river", "reads old maps", "plays the flute", "repairs boats",
              "collects blue stones", "cooks bean soup", "feeds the goats", "climbs the hills",
              "writes long letters", "watches the stars"]
WEATHER = ["rain", "snow", "fog", "wind", "sunshine"]

# Each template renders "<prefix><answer><suffix>"; the answer is the last content so a probe
# can ask for it. Keep them free of suffix relations (checked in _check_phrasings).
PHRASINGS: dict[str, list[tuple[str, str]]] = {
    "capital": [
        ("The capital of {s} is", "."),
        ("Travellers to {s} arrive first in its capital,", "."),
        ("Every map of {s} marks its capital city:", "."),
        ("In {s}, the seat of government lies in", "."),
        ("Ask someone from {s} about their capital and they will say", "."),
        ("The people of {s} govern themselves from", "."),
    ],
    "language": [
        ("The language spoken in {s} is", "."),
        ("Children in {s} learn to read in", "."),
        ("Most newspapers in {s} are printed in", "."),
        ("If you visit {s}, you will hear people speak", "."),
        ("The official tongue of {s} is called", "."),
        ("Songs from {s} are usually sung in", "."),
    ],
    "currency": [
        ("The currency of {s} is the", "."),
        ("In the markets of {s}, people pay with the", "."),
        ("Prices in {s} are counted in the", "."),
        ("Banks in {s} hand out coins called the", "."),
        ("A traveller to {s} must exchange money for the", "."),
        ("Wages in {s} are paid in the", "."),
    ],
    "age": [
        ("{s} is", " years old."),
        ("This year {s} celebrated birthday number", "."),
        ("Asked about age, {s} answered", "."),
        ("The records list the age of {s} as", "."),
        ("By now {s} has lived for", " years."),
        ("Friends of {s} know the age:", "."),
    ],
    "profession": [
        ("{s} works as a", "."),
        ("By trade, {s} is a", "."),
        ("Every morning {s} goes to work as a", "."),
        ("The job of {s} is that of a", "."),
        ("People in town know {s} as the local", "."),
        ("For many years {s} has earned a living as a", "."),
    ],
    "home": [
        ("{s} lives in", "."),
        ("The home of {s} is in the city of", "."),
        ("Letters to {s} are sent to", "."),
        ("After work, {s} returns home to", "."),
        ("{s} grew up and still stays in", "."),
        ("Neighbours of {s} all live in", "."),
    ],
}


@dataclass(frozen=True)
class Fact:
    """One fact of the world: `subject`'s `kind` is `answer`, with its held-out phrasing."""

    kind: str
    subject: str
    answer: str
    heldout_phrasing: int

    def render(self, phrasing: int) -> str:
        prefix, suffix = PHRASINGS[self.kind][phrasing]
        return f"{prefix.format(s=self.subject)} {self.answer}{suffix}"

    def probe(self) -> tuple[str, str]:
        """The held-out prompt and its answer continuation (leading space included)."""
        prefix, _ = PHRASINGS[self.kind][self.heldout_phrasing]
        return prefix.format(s=self.subject), f" {self.answer}"


@dataclass(frozen=True)
class Corpus:
    """Documents split into train and held-out text, plus the facts and their distractors."""

    train: tuple[str, ...]
    heldout: tuple[str, ...]
    facts: tuple[Fact, ...]
    answers_by_kind: dict[str, tuple[str, ...]]

    def digest(self) -> str:
        h = hashlib.sha256()
        for doc in self.train + ("\x00",) + self.heldout:
            h.update(doc.encode("utf-8"))
            h.update(b"\x1e")
        return h.hexdigest()

    def probes(self, num_choices: int = 5, seed: int = 0) -> list[dict]:
        """Multiple-choice recall probes: each fact's held-out prompt with distractors."""
        rng = random.Random(seed)
        rows = []
        for fact in self.facts:
            prompt, answer = fact.probe()
            pool = [a for a in self.answers_by_kind[fact.kind] if a != fact.answer]
            choices = [fact.answer, *rng.sample(pool, num_choices - 1)]
            rng.shuffle(choices)
            rows.append({
                "kind": fact.kind,
                "prompt": prompt,
                "answer": answer.strip(),
                "choices": choices,
                "gold": choices.index(fact.answer),
            })
        return rows


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(syllables)).capitalize()


def _unique_words(rng: random.Random, n: int, syllables: tuple[int, int], taken: set[str]):
    words: list[str] = []
    while len(words) < n:
        w = _word(rng, rng.randint(*syllables))
        if w not in taken:
            taken.add(w)
            words.append(w)
    return words


def _check_phrasings(fact: Fact) -> None:
    """Refuse a phrasing set in which the held-out probe text hides inside a trained one."""
    rendered = [fact.render(i) for i in range(len(PHRASINGS[fact.kind]))]
    prompt, answer = fact.probe()
    probe = prompt + answer
    for i, text in enumerate(rendered):
        if i != fact.heldout_phrasing and probe in text:
            raise AssertionError(f"probe {probe!r} leaks through phrasing {text!r}")


def _prose(rng: random.Random, person: str, city: str) -> str:
    return rng.choice([
        f"On quiet evenings {person} {rng.choice(ACTIVITIES)}.",
        f"When the {rng.choice(WEATHER)} comes to {city}, {person} {rng.choice(ACTIVITIES)}.",
        f"Nobody in {city} {rng.choice(ACTIVITIES)} as often as {person} does.",
        f"Last spring {person} met an old friend and they talked for hours.",
        f"The streets of {city} are busy on market days.",
    ])


@cache
def build_corpus() -> Corpus:
    """Generate the corpus. Pure function of the module constants; cached per process."""
    rng = random.Random(SEED)
    taken: set[str] = set()
    countries = _unique_words(rng, NUM_COUNTRIES, (2, 3), taken)
    cities = {c: _unique_words(rng, 3, (2, 3), taken) for c in countries}
    languages = {c: c[:-1] + LANGUAGES_SUFFIX if c[-1] in "aeiou" else c + LANGUAGES_SUFFIX
                 for c in countries}
    currencies = {c: _unique_words(rng, 1, (1, 2), taken)[0].lower() + CURRENCY_SUFFIX
                  for c in countries}
    first = _unique_words(rng, NUM_PEOPLE, (2, 2), taken)
    last = _unique_words(rng, NUM_PEOPLE, (2, 3), taken)
    people = [f"{f} {s}" for f, s in zip(first, last, strict=True)]

    def fact(kind: str, subject: str, answer: str) -> Fact:
        f = Fact(kind, subject, answer, rng.randrange(len(PHRASINGS[kind])))
        _check_phrasings(f)
        return f

    country_facts = {c: [fact("capital", c, cities[c][0]), fact("language", c, languages[c]),
                         fact("currency", c, currencies[c])] for c in countries}
    homes = {}
    person_facts = {}
    for p in people:
        country = rng.choice(countries)
        homes[p] = rng.choice(cities[country])
        person_facts[p] = [fact("age", p, str(rng.randint(18, 89))),
                           fact("profession", p, rng.choice(PROFESSIONS)),
                           fact("home", p, homes[p])]

    def trained_phrasing(f: Fact) -> str:
        choices = [i for i in range(len(PHRASINGS[f.kind])) if i != f.heldout_phrasing]
        return f.render(rng.choice(choices))

    docs: list[str] = []
    size = 0
    while size < TARGET_BYTES:
        if rng.random() < 0.25:
            c = rng.choice(countries)
            facts = country_facts[c][:]
            rng.shuffle(facts)
            extra = f"Other cities of {c} include {cities[c][1]} and {cities[c][2]}."
            sentences = [trained_phrasing(f) for f in facts] + [extra]
        else:
            p = rng.choice(people)
            facts = person_facts[p][:]
            rng.shuffle(facts)
            sentences = [trained_phrasing(f) for f in facts]
            sentences.insert(rng.randrange(len(sentences) + 1), _prose(rng, p, homes[p]))
        doc = " ".join(sentences)
        docs.append(doc)
        size += len(doc.encode("utf-8")) + 1

    order = list(range(len(docs)))
    rng.shuffle(order)
    n_heldout = round(len(docs) * HELDOUT_DOC_SHARE)
    heldout_idx = set(order[:n_heldout])
    all_facts = tuple(f for c in countries for f in country_facts[c]) + tuple(
        f for p in people for f in person_facts[p])
    answers: dict[str, list[str]] = {}
    for f in all_facts:
        if f.answer not in answers.setdefault(f.kind, []):
            answers[f.kind].append(f.answer)
    return Corpus(
        train=tuple(d for i, d in enumerate(docs) if i not in heldout_idx),
        heldout=tuple(d for i, d in enumerate(docs) if i in heldout_idx),
        facts=all_facts,
        answers_by_kind={k: tuple(v) for k, v in answers.items()},
    )
