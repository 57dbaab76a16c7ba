#!/usr/bin/env python3
"""Writes tests/data/nlp/definitions.tsv: real definitional sentences with known hypernyms.

Not part of the set-up: it was run once (Debian package wordnet-base 1:3.0-37 installed)
and its output is committed. It measures issue 16's extraction targets end to end
(tests/definitions.rs, benches/definitions.rs).

Every 9th noun synset (offset 4, so none of the nlp golden set's every-40th synsets) whose
gloss starts with a definition gives "A <lemma> is <gloss>." (a proper name without the
article). Columns, tab-separated:

1. the sentence;
2. the subject as written in it;
3. the hypernym the definition names: the first lemma of a hypernym within 3 levels
   (nearest level first; instance hypernyms count) whose words occur in the gloss (a
   plural counts), or empty when the gloss names none (23% of glosses, in the research
   notes);
4. every lemma of every hypernym within 3 levels, `|`-separated (what a right head noun is).

Deterministic: same input, same file. Glosses that are not plain (quotes, no words) are
skipped; the first 3,000 rows are kept.
"""
import re
import sys
from pathlib import Path

WN = Path("/usr/share/wordnet")
OUT = Path(__file__).resolve().parent.parent / "tests/data/nlp/definitions.tsv"
NOTICE = """# Definitions made from WordNet 3.0 glosses with their hypernyms (scripts/make-definition-eval.py).
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# Permission to use, copy, modify and distribute this database for any purpose and without
# fee or royalty is granted provided this notice appears on all copies. THE DATABASE IS
# PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS
# OR IMPLIED. The name of Princeton University may not be used in advertising or publicity
# pertaining to distribution of the database.
# sentence\tsubject\tnamed hypernym (may be empty)\tevery hypernym lemma within 3 levels
"""
LIMIT = 3000


def clean(lemma):
    return re.sub(r"\(.*?\)", "", lemma).replace("_", " ").strip()


def read_nouns():
    synsets = {}
    order = []
    for line in open(WN / "data.noun", encoding="latin-1"):
        if line.startswith("  "):
            continue
        head, _, gloss = line.partition("|")
        f = head.split()
        offset, count = f[0], int(f[3], 16)
        lemmas = [clean(f[4 + 2 * k]) for k in range(count)]
        at = 4 + 2 * count
        n_ptr = int(f[at])
        hypernyms = []
        for k in range(n_ptr):
            sym, target, pos = f[at + 1 + 4 * k], f[at + 2 + 4 * k], f[at + 3 + 4 * k]
            if sym in ("@", "@i") and pos == "n":
                hypernyms.append(target)
        synsets[offset] = (lemmas, hypernyms, gloss.strip())
        order.append(offset)
    return synsets, order


def within(synsets, offset, levels=3):
    """Hypernym synsets of `offset`, nearest level first."""
    seen, frontier, out = {offset}, [offset], []
    for _ in range(levels):
        nxt = []
        for o in frontier:
            for h in synsets[o][1]:
                if h not in seen:
                    seen.add(h)
                    nxt.append(h)
                    out.append(h)
        frontier = nxt
    return out


def words(text):
    return re.findall(r"[a-z0-9'-]+", text.lower())


def named_in(lemma, gloss_words):
    want = words(lemma)
    n = len(want)
    if n == 0:
        return False
    forms = {want[-1], want[-1] + "s", want[-1] + "es"}
    if want[-1].endswith("y"):
        forms.add(want[-1][:-1] + "ies")
    for i in range(len(gloss_words) - n + 1):
        if gloss_words[i : i + n - 1] == want[:-1] and gloss_words[i + n - 1] in forms:
            return True
    return False


def main():
    synsets, order = read_nouns()
    rows = []
    for i, offset in enumerate(order):
        if i % 9 != 4:
            continue
        lemmas, _, gloss = synsets[offset]
        definition = gloss.split(";")[0].strip()
        word = lemmas[0]
        if not definition or definition.startswith('"') or '"' in definition or not word:
            continue
        if not re.match(r"^[A-Za-z]", word) or len(words(definition)) < 2:
            continue
        if word[0].isupper():
            sentence = f"{word} is {definition}."
        else:
            art = "An" if word[0].lower() in "aeiou" else "A"
            sentence = f"{art} {word} is {definition}."
        gloss_words = words(definition)
        hyper_lemmas, named = [], ""
        for h in within(synsets, offset):
            for lemma in synsets[h][0]:
                hyper_lemmas.append(lemma)
                if not named and named_in(lemma, gloss_words) and lemma.lower() != word.lower():
                    named = lemma
        if not hyper_lemmas:
            continue
        rows.append("\t".join([sentence, word, named, "|".join(dict.fromkeys(hyper_lemmas))]))
        if len(rows) == LIMIT:
            break
    OUT.write_text(NOTICE + "\n".join(rows) + "\n")
    named = sum(1 for r in rows if r.split("\t")[2])
    print(f"{len(rows)} definitions, {named} name a hypernym -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
