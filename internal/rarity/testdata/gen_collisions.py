#!/usr/bin/env python3
"""Reference vectors for trait names that collide after normalisation.

Writes, into the current directory (run it from testdata/):

    inputs/<name>.jsonl     the input collection (JSON Lines; an attributes
                            object may repeat a key, which JSON parsers read
                            as one key holding the last value)
    <name>.csv              token_id,score,rank                 (reference)
    <name>.features.csv     token_id,unique_attribute_count,trait_count
    <name>.stats.json       tokens, entropy_bits, mean_score    (reference)

for two collections: `collisions` (hand-made cases) and `collisions_2k`
(2,000 tokens drawn with a fixed seed from a pool of colliding names).

The expected values come from the OpenRarity reference library itself,
version 0.7.5 (commit f2bc4d8b6e6eea1dd0a7f57017aa3d87d01fcc43), unmodified;
this script contains none of its code and imports it:

    PYTHONPATH=/path/to/open-rarity-checkout python3 gen_collisions.py

It needs numpy and pydantic (<2.3; Debian bookworm's python3-numpy and
python3-pydantic work). Tokens are built exactly like the other vectors:
Token.from_erc721(contract_address="0x0", token_id, json.loads(line)["attributes"])
in file order, then RarityRanker.rank_collection(Collection(tokens)).
"""
import csv
import json
import random

from open_rarity import Collection, RarityRanker, Token
from open_rarity.scoring.handlers.information_content_scoring_handler import (
    InformationContentScoringHandler,
)

META = "meta_trait:trait_count"


def line(token_id, pairs):
    """A JSONL line whose attributes object has the given (key, value)
    pairs in order, repeated keys included."""
    attrs = ",".join(json.dumps(k, ensure_ascii=False) + ":" + json.dumps(v, ensure_ascii=False) for k, v in pairs)
    return '{"token_id":%d,"attributes":{%s}}' % (token_id, attrs)


def handmade():
    rows = [
        # Plain tokens that set the background distribution.
        [("Hat", "Cap"), ("Eyes", "Blue"), ("Kind", "Ape")],
        [("Hat", "Cap"), ("Eyes", "Green"), ("Kind", "Ape")],
        [("Hat", "Beanie"), ("Eyes", "Blue"), ("Kind", "Cat")],
        [("Hat", "Crown"), ("Eyes", "Red"), ("Kind", "Cat")],
        [("Eyes", "Blue"), ("Kind", "Dog")],
        [("Hat", "Beanie"), ("Eyes", "Green")],
        # Case and whitespace variants of one name: the later one wins.
        [("Hat", "Cap"), (" hat ", "Crown"), ("Eyes", "Blue")],
        [(" hat ", "Crown"), ("Hat", "Cap"), ("Eyes", "Blue")],
        [("HAT", "beanie"), ("hat", "BEANIE "), ("Eyes", "red")],
        # Three spellings; the middle value must not survive.
        [("Hat", "Cap"), ("hAt", "Beanie"), ("hat\t", "Top Hat"), ("Kind", "Ape")],
        # A repeated raw key keeps its first position and takes its last
        # value; then " hat " (a later position) replaces it.
        [("Hat", "Cap"), (" hat ", "Beanie"), ("Hat", "Crown"), ("Kind", "Cat")],
        # The same, ending on the raw key: " hat " still comes later.
        [(" hat ", "Beanie"), ("Hat", "Cap"), ("Hat", "Crown")],
        # A collision where the later value is "none" or "": the trait
        # count drops.
        [("Hat", "Cap"), ("hat", "none"), ("Eyes", "Blue"), ("Kind", "Ape")],
        [("Hat", "Cap"), ("HAT ", ""), ("Eyes", "Green")],
        [("Hat", "None"), ("hat", "Cap"), ("Eyes", "Red")],
        # Unicode case variants: Kelvin sign, Greek final sigma, dotted
        # capital I, titlecase digraph, no-break space and U+001F.
        [("\u212aind", "Ape"), ("Kind", "Dog"), ("Eyes", "Blue")],
        [("Kind", "Dog"), ("\u212aIND", "Ape")],
        [("ΣΟΦΙΑΣ", "α"), ("σοφιας", "β"), ("Eyes", "Blue")],
        [("σοφιας", "γ"), ("ΣΟΦΙΑΣ", "α")],
        [("İris", "x"), ("i\u0307ris", "y")],
        [("i\u0307ris", "y"), ("İRIS", "x"), ("Hat", "Cap")],
        [("\u01c4ab", "v1"), ("\u01c5ab", "v2"), ("\u01c6AB", "v3")],
        [("\u00a0Hat", "Crown"), ("Hat", "Cap"), ("\x1fhat", "Beanie")],
        [("Eyes", "Blue"), ("\u00a0EYES\u2003", "Gold"), ("Kind", "Ape")],
        # The same value twice under colliding names.
        [("Hat", "Cap"), ("hat", "cap"), ("Eyes", "Green"), ("Kind", "Ape")],
        # A token whose only traits collide.
        [("Mood", "Happy"), ("mood", "Sad")],
        [("Mood", "Sad")],
        # Empty token and a token of one rare trait.
        [],
        [("Glow", "Yes"), ("GLOW", "Yes"), ("Eyes", "Blue")],
    ]
    return [line(i + 1, pairs) for i, pairs in enumerate(rows)]


def drawn(n, seed):
    """n tokens; every trait is spelt in one of several colliding ways, and
    a fifth of the tokens carry a second spelling of some trait."""
    rng = random.Random(seed)
    spellings = {
        "hat": ["Hat", "hat", " HAT", "Hat ", "hAT", "\u00a0hat"],
        "eyes": ["Eyes", "EYES", " eyes"],
        "kind": ["Kind", "\u212aind", "KIND "],
        "sofia": ["Σοφιας", "ΣΟΦΙΑΣ", "σοφιας"],
        "iris": ["İris", "i\u0307ris", "İRIS "],
        "mood": ["Mood", "mood"],
    }
    values = {
        "hat": ["Cap", "cap ", "Beanie", "Crown", "Top Hat", "none", ""],
        "eyes": ["Blue", "Green", "Red", "Gold", "BLUE"],
        "kind": ["Ape", "Cat", "Dog", "Alien"],
        "sofia": ["α", "β", "Σ", "ς"],
        "iris": ["x", "y", "z"],
        "mood": ["Happy", "Sad", "Bored", "None"],
    }
    presence = {"hat": 0.8, "eyes": 0.95, "kind": 0.9, "sofia": 0.3, "iris": 0.2, "mood": 0.5}
    out = []
    for i in range(n):
        pairs = []
        for trait, p in presence.items():
            if rng.random() < p:
                pairs.append((rng.choice(spellings[trait]), rng.choice(values[trait])))
        if pairs and rng.random() < 0.2:
            k = rng.randrange(len(pairs))
            trait = next(t for t in spellings if pairs[k][0] in spellings[t])
            extra = (rng.choice(spellings[trait]), rng.choice(values[trait]))
            pairs.insert(rng.randrange(len(pairs) + 1), extra)
        out.append(line(i, pairs))
    return out


def reference(lines):
    tokens = []
    for text in lines:
        d = json.loads(text)
        tokens.append(Token.from_erc721(contract_address="0x0", token_id=d["token_id"], metadata_dict=d["attributes"]))
    collection = Collection(tokens=tokens)
    ranked = RarityRanker.rank_collection(collection)
    entropy = InformationContentScoringHandler()._get_collection_entropy(collection)
    return ranked, float(entropy)


def write(name, lines):
    with open("inputs/%s.jsonl" % name, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    ranked, entropy = reference(lines)
    rows = sorted(ranked, key=lambda r: r.token.token_identifier.token_id)
    with open(name + ".csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["token_id", "score", "rank"])
        for r in rows:
            w.writerow([r.token.token_identifier.token_id, repr(float(r.score)), r.rank])
    with open(name + ".features.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["token_id", "unique_attribute_count", "trait_count"])
        for r in rows:
            k = r.token.metadata.string_attributes[META].value
            w.writerow([r.token.token_identifier.token_id, r.token_features.unique_attribute_count, k])
    stats = {
        "tokens": len(rows),
        "entropy_bits": entropy,
        "mean_score": sum(float(r.score) for r in rows) / len(rows),
    }
    with open(name + ".stats.json", "w") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    write("collisions", handmade())
    write("collisions_2k", drawn(2000, 20261130))
