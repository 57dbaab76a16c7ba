#!/usr/bin/env python3
"""Writes tests/data/nlp/wordnet-sentences.txt: the WordNet part of the nlp golden set.

Not part of the set-up: it was run once (Debian package wordnet-base 1:3.0-37 installed)
and its output is committed. Every 40th noun synset gives a definitional sentence
"A <lemma> is <gloss>." (the shape users teach), and every 25th noun or verb synset's
first quoted example gives a plain sentence. Deterministic: same input, same file.
"""
import re
import sys
from pathlib import Path

WN = Path("/usr/share/wordnet")
OUT = Path(__file__).resolve().parent.parent / "tests/data/nlp/wordnet-sentences.txt"
NOTICE = """# Sentences made from WordNet 3.0 glosses and examples (scripts/make-nlp-sentences.py).
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# Permission to use, copy, modify and distribute this database for any purpose and without
# fee or royalty is granted provided this notice appears on all copies. THE DATABASE IS
# PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS
# OR IMPLIED. The name of Princeton University may not be used in advertising or publicity
# pertaining to distribution of the database.
"""


def synsets(path):
    for line in open(path, encoding="latin-1"):
        if line.startswith("  "):
            continue
        head, _, gloss = line.partition("|")
        fields = head.split()
        word = fields[4].replace("_", " ")
        yield word, gloss.strip()


def main():
    defs, examples = [], []
    for i, (word, gloss) in enumerate(synsets(WN / "data.noun")):
        parts = [p.strip() for p in gloss.split(";")]
        if i % 40 == 0 and parts[0] and not parts[0].startswith('"'):
            word = re.sub(r"\(.*?\)", "", word).strip()
            art = "An" if word[0].lower() in "aeiou" else "A"
            if word[0].isupper():
                defs.append(f"{word} is {parts[0]}.")
            else:
                defs.append(f"{art} {word} is {parts[0]}.")
        if i % 25 == 0:
            quoted = [p.strip('"') for p in parts if p.startswith('"') and p.endswith('"')]
            if quoted and len(quoted[0].split()) >= 4:
                examples.append(quoted[0][0].upper() + quoted[0][1:] + ".")
    for i, (_, gloss) in enumerate(synsets(WN / "data.verb")):
        parts = [p.strip() for p in gloss.split(";")]
        if i % 12 == 0:
            quoted = [p.strip('"') for p in parts if p.startswith('"') and p.endswith('"')]
            if quoted and len(quoted[0].split()) >= 4:
                examples.append(quoted[0][0].upper() + quoted[0][1:] + ".")
    OUT.write_text(NOTICE + "\n".join(defs + examples) + "\n")
    print(f"{len(defs)} definitions, {len(examples)} examples -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
