#!/usr/bin/env python3
"""Regenerate tests/data/reference_embeddings.json (run by hand, rarely).

Usage (from anywhere; Python 3.11, standard library only):

    python3 scripts/make-reference-embeddings.py [--dir DIR] [--out FILE] [--keep-venv]

DIR is the model directory (default: $SUTRA_MODEL_DIR, else <repo>/models/minilm);
it is prepared first with scripts/setup-model.py if needed. FILE defaults to
<repo>/tests/data/reference_embeddings.json.

The embeddings come from Python onnxruntime (the build venv of setup-model.py,
<dir>/.venv-build, with its pinned onnxruntime and tokenizers; created if missing
and deleted again afterwards unless --keep-venv or it was already there), one
sentence at a time (no padding, batch of one, one intra-op thread):

  * tokens: tokenizer.json with truncation to 256 tokens and padding disabled
    (the file itself configures 128 and fixed padding; those are overridden);
  * model_fp32.onnx and model_int8.onnx with input_ids, attention_mask,
    token_type_ids (all int64 [1, n]);
  * mean of last_hidden_state over the attention mask, then L2 normalization
    (sentence-transformers' all-MiniLM-L6-v2 pipeline), stored as float32 values.

Output: {"model_files": {"model_fp32.onnx": sha256, "model_int8.onnx": sha256,
"tokenizer.json": sha256}, "onnxruntime": version, "sentences": [{"text",
"token_ids", "fp32": [384], "int8": [384]}], "made_on_cpu": flags}. A test should
compare only when its model files have these sha256s, and with a tolerance: thread
count, graph optimization level and CPU kernels move the last bits. Measured with
ONNX Runtime on an AVX-512 VNNI CPU against the same run forced onto its AVX2 kernels
(qemu-x86_64 -cpu Haswell): fp32 vectors differ by at most 8.9e-8; int8 vectors (weights
in 7 bits, so no kernel saturates) are identical for short texts and differ by up to
4.8e-4 on the 73-token sentence, where a float rounding difference before an
activation's dynamic quantization moves one quantization step. int8 embeddings also
depend a little on batch composition (dynamic quantization scales activations per
input tensor), so the int8 references hold for sentences embedded alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "reference_embeddings.json"



def load_setup():
    spec = importlib.util.spec_from_file_location("setup_model", HERE / "setup-model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compute(model_dir: Path, out: Path, max_tokens: int) -> None:
    """Runs inside the venv."""
    import hashlib

    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    def sha(name: str) -> str:
        return hashlib.sha256((model_dir / name).read_bytes()).hexdigest()

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sessions = {v: ort.InferenceSession(str(model_dir / f"model_{v}.onnx"), opts,
                                        providers=["CPUExecutionProvider"])
                for v in ("fp32", "int8")}

    def f32_list(vec) -> list[float]:
        # float32 values (written as the float64 numbers they are exactly).
        return vec.astype(np.float32).tolist()

    rows = []
    # The first six texts the set-up checks (the rest are the short int8 checks).
    for text in load_setup().CHECK_SENTENCES[:6]:
        enc = tokenizer.encode(text)
        feed = {"input_ids": np.array([enc.ids], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([enc.type_ids], dtype=np.int64)}
        row = {"text": text, "token_ids": list(enc.ids)}
        for variant, session in sessions.items():
            # In float32, as the Rust side computes it.
            hidden = session.run(["last_hidden_state"], feed)[0][0]
            mask = np.array(enc.attention_mask, dtype=np.float32)
            v = (hidden * mask[:, None]).sum(0) / np.clip(mask.sum(), 1e-9, None)
            row[variant] = f32_list(v / np.sqrt((v * v).sum()))
        cos = float(np.dot(row["fp32"], row["int8"]))
        print(f"{len(enc.ids):3d} tokens, fp32·int8 cosine {cos:.5f}: {text[:50]!r}", file=sys.stderr)
        rows.append(row)
    doc = {
        "model_files": {n: sha(n) for n in ("model_fp32.onnx", "model_int8.onnx", "tokenizer.json")},
        "onnxruntime": ort.__version__,
        "made_on_cpu": load_setup().cpu_summary(),
        "sentences": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="ascii")
    print(f"wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="model directory (default: $SUTRA_MODEL_DIR, else <repo>/models/minilm)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("--keep-venv", action="store_true", help="keep the build venv afterwards")
    parser.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup = load_setup()
    model_dir = setup.resolve_dir(args.dir)
    out = Path(args.out).resolve()
    if args.in_venv:
        compute(model_dir, out, setup.MAX_TOKENS)
        return 0
    if setup.main(["--dir", str(model_dir)]) != 0:
        return 1
    venv = model_dir / ".venv-build"
    had_venv = venv.exists()
    try:
        wheel = model_dir / ".downloads" / setup.DOWNLOADS["onnxruntime"]["file"]
        py = setup.ensure_venv(model_dir, wheel if wheel.is_file() else None)
    except setup.SetupError as e:
        print(f"make-reference-embeddings: error: {e}", file=sys.stderr)
        return 1
    try:
        proc = subprocess.run([str(py), str(Path(__file__).resolve()), "--in-venv",
                               "--dir", str(model_dir), "--out", str(out)])
    finally:
        if not had_venv and not args.keep_venv:
            import shutil
            shutil.rmtree(venv, ignore_errors=True)
    if proc.returncode != 0:
        print("make-reference-embeddings: error: computing the embeddings failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
