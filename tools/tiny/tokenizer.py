"""A miniature CLIP BPE tokenizer: vocab.json + merges.txt in CLIP's format.

Every vocabulary word becomes exactly one token "<word></w>"; any other a-z word still tokenizes
(single letters are in the vocabulary). Encoding mirrors CLIP: lower-case, split words, append
</w> to the last character, merge by rank, BOS + tokens + EOS, pad with EOS to 77.
"""
import json
import os
import re

from data import BG_NAMES, COLOR_NAMES, POS_PHRASE, SHAPES

WORDS = sorted(set(
    ["a", "and", "on", "the", "at", "in", "background", "of", "an", "with"]
    + COLOR_NAMES + BG_NAMES + SHAPES + [w for ph in POS_PHRASE.values() for w in ph.split()]
))
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LEN = 77
PUNCT = [",", "."]


def bpe(word, ranks):
    parts = list(word[:-1]) + [word[-1] + "</w>"]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get((parts[i], parts[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        a, b = parts[best[1]], parts[best[1] + 1]
        merged, i = [], 0
        while i < len(parts):
            if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                merged.append(a + b)
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def build():
    merges = []
    ranks = {}
    changed = True
    while changed:
        changed = False
        for w in WORDS:
            while True:
                parts = bpe(w, ranks)
                if len(parts) == 1:
                    break
                pair = (parts[0], parts[1])
                ranks[pair] = len(merges)
                merges.append(pair)
                changed = True
    vocab = {}
    for c in "abcdefghijklmnopqrstuvwxyz" + "".join(PUNCT):
        vocab[c] = len(vocab)
    for c in "abcdefghijklmnopqrstuvwxyz" + "".join(PUNCT):
        vocab[c + "</w>"] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    for w in WORDS:
        assert bpe(w, ranks) == [w + "</w>"], w
    return vocab, merges


class Tokenizer:
    def __init__(self, vocab=None, merges=None):
        if vocab is None:
            vocab, merges = build()
        self.vocab = vocab
        self.merges = merges
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.bos = vocab[BOS]
        self.eos = vocab[EOS]

    @property
    def size(self):
        return len(self.vocab)

    def tokens(self, text):
        text = re.sub(r"\s+", " ", text.strip().lower())
        words = re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", text)
        ids = []
        for w in words:
            for p in bpe(w, self.ranks):
                if p in self.vocab:
                    ids.append(self.vocab[p])
        return ids

    def encode(self, text):
        ids = [self.bos] + self.tokens(text)[: MAX_LEN - 2] + [self.eos]
        mask = [1] * len(ids) + [0] * (MAX_LEN - len(ids))
        ids = ids + [self.eos] * (MAX_LEN - len(ids))
        return ids, mask

    def encode_batch(self, texts):
        import torch
        enc = [self.encode(t) for t in texts]
        return (torch.tensor([e[0] for e in enc], dtype=torch.long),
                torch.tensor([e[1] for e in enc], dtype=torch.long))

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w") as f:
            json.dump(self.vocab, f, indent=0, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        special = {
            "bos_token": {"content": BOS, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True},
            "eos_token": {"content": EOS, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True},
            "unk_token": {"content": EOS, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True},
            "pad_token": EOS,
        }
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
        cfg = {"model_max_length": MAX_LEN, "do_lower_case": True, "bos_token": BOS, "eos_token": EOS,
               "pad_token": EOS, "unk_token": EOS, "tokenizer_class": "CLIPTokenizer"}
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f, indent=2)


if __name__ == "__main__":
    t = Tokenizer()
    print(t.size, "tokens", len(t.merges), "merges")
    print(t.encode("a red circle on the left and a blue square on the right, on a gray background")[0][:20])
    print(t.tokens("zebra"), t.tokens(""))
