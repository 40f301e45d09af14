import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { clipTokenizerJson, loadClipTokenizer } from "../../server/runtime/tokenizer.ts";

// A hand-written CLIP BPE vocabulary: letters, digits, punctuation with and without "</w>", a few
// merges (cat, dog, red, blue, and, the, 's), BOS 96 and EOS 97 (made by tools/fixtures/make_random_pack.py).
const DIR = path.resolve("test/fixtures/packs/random/tokenizer");
const vocab = JSON.parse(fs.readFileSync(path.join(DIR, "vocab.json"), "utf8")) as Record<string, number>;
const id = (t: string) => vocab[t];

test("tokenizer looks BOS and EOS up in the vocabulary", () => {
  const tok = loadClipTokenizer(DIR);
  assert.equal(tok.bosId, id("<|startoftext|>"));
  assert.equal(tok.eosId, id("<|endoftext|>"));
  assert.equal(tok.padId, tok.eosId);
  assert.equal(tok.source, "vocab.json + merges.txt");
});

test("tokenizer lower-cases, cleans whitespace, applies merges and marks word ends", () => {
  const tok = loadClipTokenizer(DIR);
  assert.deepEqual(tok.tokenize("  A RED\tcat\n and   the Blue DOG! "), ["a</w>", "red</w>", "cat</w>", "and</w>", "the</w>", "blue</w>", "dog</w>", "!</w>"]);
  assert.deepEqual(tok.tokenIds("red cat"), [id("red</w>"), id("cat</w>")]);
});

test("tokenizer splits with CLIP's pattern: contractions, single digits, punctuation runs", () => {
  const tok = loadClipTokenizer(DIR);
  assert.deepEqual(tok.tokenize("the cat's 42,"), ["the</w>", "cat</w>", "'s</w>", "4</w>", "2</w>", ",</w>"]);
  assert.deepEqual(tok.tokenize("ox"), ["o", "x</w>"]);
});

test("tokenizer pads to 77 with EOS and masks only BOS, tokens and EOS", () => {
  const tok = loadClipTokenizer(DIR);
  const [chunk, ...rest] = tok.encode("red cat");
  assert.equal(rest.length, 0);
  assert.equal(chunk.ids.length, 77);
  assert.deepEqual(chunk.ids.slice(0, 5), [tok.bosId, id("red</w>"), id("cat</w>"), tok.eosId, tok.eosId]);
  assert.deepEqual(chunk.mask.slice(0, 5), [1, 1, 1, 1, 0]);
  assert.equal(chunk.mask.reduce((a, b) => a + b), 4);
});

test("tokenizer encodes the empty prompt as BOS, EOS and padding", () => {
  const tok = loadClipTokenizer(DIR);
  const chunks = tok.encode("");
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0].ids.slice(0, 3), [tok.bosId, tok.eosId, tok.eosId]);
  assert.equal(chunks[0].mask.reduce((a, b) => a + b), 2);
});

test("tokenizer cuts long prompts into chunks of 75 tokens with their own BOS and EOS", () => {
  const tok = loadClipTokenizer(DIR);
  const chunks = tok.encode(Array(80).fill("cat").join(" "));
  assert.equal(chunks.length, 2);
  for (const c of chunks) {
    assert.equal(c.ids.length, 77);
    assert.equal(c.ids[0], tok.bosId);
  }
  assert.equal(chunks[0].ids[76], tok.eosId);
  assert.equal(chunks[0].ids.filter((x) => x === id("cat</w>")).length, 75);
  assert.deepEqual(chunks[0].mask.every((m) => m === 1), true);
  assert.deepEqual(chunks[1].ids.slice(0, 7), [tok.bosId, ...Array(5).fill(id("cat</w>")), tok.eosId]);
  assert.equal(chunks[1].mask.reduce((a, b) => a + b), 7);
  assert.equal(tok.encode(Array(75).fill("cat").join(" ")).length, 1);
  assert.equal(tok.encode(Array(76).fill("cat").join(" ")).length, 2);
});

test("tokenizer remembers a text's chunks: the same frozen chunks come back, and other texts still encode", () => {
  const tok = loadClipTokenizer(DIR);
  const first = tok.encode("a red cat");
  assert.equal(tok.encode("a red cat"), first);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first[0].ids) && Object.isFrozen(first[0].mask));
  assert.throws(() => (first[0].ids as number[]).push(1), TypeError);
  assert.deepEqual(tok.encode("a blue dog")[0].ids.slice(0, 5), [tok.bosId, id("a</w>"), id("blue</w>"), id("dog</w>"), tok.eosId]);
  // More texts than it remembers: the oldest is encoded again, to the same ids.
  for (let i = 0; i < 300; i++) tok.encode(`cat ${i}`);
  const again = tok.encode("a red cat");
  assert.notEqual(again, first);
  assert.deepEqual(again, first);
});

test("tokenizer built from tokenizer.json gives the same ids as from vocab.json + merges.txt", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-tok-"));
  const merges = fs.readFileSync(path.join(DIR, "merges.txt"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(clipTokenizerJson(vocab, merges)));
  const a = loadClipTokenizer(DIR);
  const b = loadClipTokenizer(dir);
  assert.equal(b.source, "tokenizer.json");
  const text = "The blue dog and the red cat's 7 friends!!";
  assert.deepEqual(b.encode(text), a.encode(text));
  fs.rmSync(dir, { recursive: true });
});

test("tokenizer without vocab.json names the missing file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-tok-"));
  fs.copyFileSync(path.join(DIR, "merges.txt"), path.join(dir, "merges.txt"));
  assert.throws(() => loadClipTokenizer(dir), /tokenizer\/vocab\.json: file not found/);
  fs.rmSync(dir, { recursive: true });
});
