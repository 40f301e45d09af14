// The CLIP BPE tokenizer, built on @huggingface/tokenizers. A pack ships either a tokenizer.json
// or CLIP's vocab.json + merges.txt; for the latter we synthesise the tokenizer.json that the
// Hugging Face CLIP tokenizer uses (NFC, whitespace collapsed, lower case; CLIP's regex split;
// byte-level alphabet; BPE with "</w>" word ends). BOS/EOS are looked up in the vocabulary (the
// real ids are 49406/49407, a tiny vocabulary has its own), padding is EOS, and long prompts are
// cut into chunks of 75 tokens, each wrapped in BOS ... EOS and padded to 77.
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { RuntimeError } from "./errors.ts";

export const BOS_TOKEN = "<|startoftext|>";
export const EOS_TOKEN = "<|endoftext|>";

/** CLIP's pre-tokenisation pattern (openai/CLIP simple_tokenizer.py), as the HF CLIP tokenizer.json has it. */
export const CLIP_SPLIT_PATTERN = String.raw`<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`;

export interface TokenChunk {
  /** maxLength ids: BOS, up to maxLength-2 tokens, EOS, then EOS padding. */
  readonly ids: readonly number[];
  /** 1 on BOS, tokens and EOS; 0 on padding. */
  readonly mask: readonly number[];
}

export interface ClipTokenizer {
  bosId: number;
  eosId: number;
  padId: number;
  maxLength: number;
  vocabSize: number;
  /** Where it came from ("tokenizer.json" or "vocab.json + merges.txt"). */
  source: string;
  /** Token strings of a text, without BOS/EOS. */
  tokenize(text: string): string[];
  /** Token ids of a text, without BOS/EOS. */
  tokenIds(text: string): number[];
  /** The text as one or more chunks of maxLength (at least one, even for ""); shared and frozen: do not mutate. */
  encode(text: string): readonly TokenChunk[];
}

/** Texts whose chunks a tokenizer remembers: a server sees the same prompts again and again (new seeds, the empty negative). */
const REMEMBERED_TEXTS = 256;

export interface TokenizerOptions {
  /** Sequence length of one chunk including BOS and EOS (default 77). */
  maxLength?: number;
}

/** The tokenizer.json object of a CLIP BPE tokenizer built from its vocab and merges. */
export function clipTokenizerJson(vocab: Record<string, number>, merges: string[], bos = BOS_TOKEN, eos = EOS_TOKEN): Record<string, unknown> {
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: "1.0",
    added_tokens: [special(bos), special(eos)],
    normalizer: {
      type: "Sequence",
      normalizers: [{ type: "NFC" }, { type: "Replace", pattern: { Regex: String.raw`\s+` }, content: " " }, { type: "Lowercase" }],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: "Removed", invert: true },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      // Pieces missing from a (tiny) vocabulary are dropped rather than mapped to EOS: an EOS in the
      // middle would move the position CLIP pools from.
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "</w>",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

function readJson(file: string, label: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new RuntimeError("bad-tokenizer", `${label}: not valid JSON (${(e as Error).message})`, { file: label, cause: e });
  }
}

function specialName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

/**
 * Load the CLIP tokenizer of a pack's tokenizer/ folder: tokenizer.json when present, else
 * vocab.json + merges.txt (+ special_tokens_map.json for the BOS/EOS/pad names when present).
 * `labelPrefix` names the folder in errors (e.g. "tokenizer/").
 */
export function loadClipTokenizer(dir: string, options: TokenizerOptions = {}, labelPrefix = "tokenizer/"): ClipTokenizer {
  const maxLength = options.maxLength ?? 77;
  if (maxLength < 3) throw new RuntimeError("bad-tokenizer", `tokenizer: maxLength ${maxLength} leaves no room for tokens`);
  if (!fs.existsSync(dir)) throw new RuntimeError("missing-file", `${labelPrefix}: folder not found (${dir}); a pack needs tokenizer/vocab.json + merges.txt or tokenizer/tokenizer.json`, { file: labelPrefix });
  let bos = BOS_TOKEN;
  let eos = EOS_TOKEN;
  let pad: string | undefined;
  const stm = path.join(dir, "special_tokens_map.json");
  if (fs.existsSync(stm)) {
    const m = readJson(stm, `${labelPrefix}special_tokens_map.json`) as Record<string, unknown>;
    bos = specialName(m.bos_token) ?? bos;
    eos = specialName(m.eos_token) ?? eos;
    pad = specialName(m.pad_token);
  }
  let json: Record<string, unknown>;
  let source: string;
  const tj = path.join(dir, "tokenizer.json");
  if (fs.existsSync(tj)) {
    json = readJson(tj, `${labelPrefix}tokenizer.json`) as Record<string, unknown>;
    source = "tokenizer.json";
    // BOS/EOS are added here, per chunk, not by the file's post-processor.
    json = { ...json, post_processor: null };
  } else {
    const vf = path.join(dir, "vocab.json");
    const mf = path.join(dir, "merges.txt");
    for (const [f, n] of [[vf, "vocab.json"], [mf, "merges.txt"]] as const) {
      if (!fs.existsSync(f)) throw new RuntimeError("missing-file", `${labelPrefix}${n}: file not found (a pack needs tokenizer/vocab.json + merges.txt or tokenizer/tokenizer.json)`, { file: `${labelPrefix}${n}` });
    }
    const vocab = readJson(vf, `${labelPrefix}vocab.json`) as Record<string, number>;
    if (!vocab || typeof vocab !== "object" || Array.isArray(vocab)) throw new RuntimeError("bad-tokenizer", `${labelPrefix}vocab.json: expected an object of token → id`, { file: `${labelPrefix}vocab.json` });
    const merges = fs.readFileSync(mf, "utf8").split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#version"));
    json = clipTokenizerJson(vocab, merges, bos, eos);
    source = "vocab.json + merges.txt";
  }
  const model = json.model as { vocab?: Record<string, number> } | undefined;
  const vocab = model?.vocab ?? {};
  const idOf = (tok: string, what: string): number => {
    const added = (json.added_tokens as { content: string; id: number }[] | undefined)?.find((t) => t.content === tok);
    const id = vocab[tok] ?? added?.id;
    if (typeof id !== "number") throw new RuntimeError("bad-tokenizer", `${labelPrefix}: the ${what} token '${tok}' is not in the vocabulary`, { file: labelPrefix });
    return id;
  };
  const bosId = idOf(bos, "BOS");
  const eosId = idOf(eos, "EOS");
  const padId = pad ? idOf(pad, "pad") : eosId;
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, { bos_token: bos, eos_token: eos, pad_token: pad ?? eos, model_max_length: maxLength });
  } catch (e) {
    throw new RuntimeError("bad-tokenizer", `${labelPrefix}${source}: could not build the tokenizer (${(e as Error).message})`, { file: labelPrefix, cause: e });
  }
  const clean = (text: string) => text.replace(/\s+/g, " ").trim();
  const perChunk = maxLength - 2;
  // Oldest first (a Map keeps insertion order), so the first key is the one to forget.
  const remembered = new Map<string, readonly TokenChunk[]>();
  const tokenIds = (text: string): number[] => {
    const t = clean(text);
    if (!t) return [];
    return tok.encode(t, { add_special_tokens: false }).ids.filter((id) => id !== bosId && id !== eosId);
  };
  return {
    bosId, eosId, padId, maxLength, source,
    vocabSize: Object.keys(vocab).length,
    tokenize: (text) => {
      const t = clean(text);
      return t ? tok.tokenize(t, { add_special_tokens: false }) : [];
    },
    tokenIds,
    encode(text) {
      const known = remembered.get(text);
      if (known) return known;
      const ids = tokenIds(text);
      const chunks: TokenChunk[] = [];
      for (let start = 0; start === 0 || start < ids.length; start += perChunk) {
        const part = ids.slice(start, start + perChunk);
        const chunkIds = [bosId, ...part, eosId];
        const mask = chunkIds.map(() => 1);
        while (chunkIds.length < maxLength) {
          chunkIds.push(padId);
          mask.push(0);
        }
        chunks.push(Object.freeze({ ids: Object.freeze(chunkIds), mask: Object.freeze(mask) }));
      }
      if (remembered.size >= REMEMBERED_TEXTS) remembered.delete(remembered.keys().next().value!);
      remembered.set(text, Object.freeze(chunks));
      return chunks;
    },
  };
}
