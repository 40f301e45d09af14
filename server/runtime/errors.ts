// Errors of the runtime: every one names the file (relative to its pack where there is one) and,
// where it applies, the tensor, and says what to do about it.

export type RuntimeErrorKind =
  | "missing-pack"
  | "missing-file"
  | "corrupt-model"
  | "missing-external-data"
  | "bad-input"
  | "missing-operator"
  | "device-unavailable"
  | "bad-manifest"
  | "bad-tokenizer"
  | "load-failed"
  | "run-failed"
  | "unsafe-graph"
  | "over-budget";

export class RuntimeError extends Error {
  readonly kind: RuntimeErrorKind;
  /** The file the error is about (pack-relative where known). */
  readonly file?: string;
  /** The tensor (input or output name) the error is about. */
  readonly tensor?: string;
  /** For missing-operator and unsafe-graph: the operator's name. */
  readonly op?: string;
  /** For unsafe-graph: the node's name. */
  readonly node?: string;

  constructor(kind: RuntimeErrorKind, message: string, extra: { file?: string; tensor?: string; op?: string; node?: string; cause?: unknown } = {}) {
    super(message, extra.cause !== undefined ? { cause: extra.cause } : undefined);
    this.name = "RuntimeError";
    this.kind = kind;
    this.file = extra.file;
    this.tensor = extra.tensor;
    this.op = extra.op;
    this.node = extra.node;
  }
}

/**
 * Fused operators of GPU-optimised exports that only the CUDA provider implements
 * (onnxruntime contrib ops, com.microsoft domain).
 */
const CUDA_ONLY_OPS = new Set([
  "GroupNorm", "SkipGroupNorm", "BiasSplitGelu", "BiasAdd", "NhwcConv", "PackedAttention",
  "PackedMultiHeadAttention", "DecoderMaskedMultiHeadAttention", "DecoderMaskedSelfAttention",
  "GemmFloat8", "LongformerAttention", "RemovePadding", "RestorePadding", "GatedRelativePositionBias",
  "FusedMatMul4Bit",
]);

/** Which device to suggest for an operator that `device` lacks. */
export function suggestDeviceFor(op: string, device: string): string {
  if (device === "cpu") return "cuda";
  if (CUDA_ONLY_OPS.has(op)) return "cuda";
  return device === "cuda" ? "cpu" : "cuda";
}

function errText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Turn an onnxruntime error raised while loading `file` into a RuntimeError that says what is wrong
 * in words a user can act on. `label` is how the file is named in messages (e.g. "prior/model.onnx").
 */
export function translateLoadError(err: unknown, label: string, device: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const text = errText(err);
  const ext = /External data path does not exist: "?([^"\n]+)"?/.exec(text) ?? /external data[^\n]*?([\w./-]+\.data)/i.exec(text);
  if (ext) {
    const missing = ext[1].split(/[\\/]/).pop();
    const init = /initializer: ([^.\s]+(?:\.[^.\s]+)*)\./.exec(text)?.[1];
    return new RuntimeError(
      "missing-external-data",
      `${label}: its external weights file '${missing}' is missing (expected beside the model at ${ext[1]}${init ? `, needed for initializer '${init}'` : ""}). Big models keep their weights in model.onnx.data: copy or download it too.`,
      { file: label, tensor: init, cause: err },
    );
  }
  const op = /Could not find an implementation for (\w+)\((\d+)\) node(?: with name '([^']*)')?/.exec(text);
  if (op) {
    const suggestion = suggestDeviceFor(op[1], device);
    return new RuntimeError(
      "missing-operator",
      `${label}: operator ${op[1]} (opset ${op[2]}${op[3] ? `, node '${op[3]}'` : ""}) not implemented on ${device}: try --device ${suggestion}` +
        (suggestion === "cuda" ? " (GPU-optimised exports use fused operators that only the CUDA provider has), or use a pack exported without them" : ""),
      { file: label, op: op[1], cause: err },
    );
  }
  const unknownOp = /No Op registered for (\w+) with domain_version of (\d+)/.exec(text) ?? /Op type not registered '(\w+)'/.exec(text);
  if (unknownOp) {
    const suggestion = suggestDeviceFor(unknownOp[1], device);
    return new RuntimeError(
      "missing-operator",
      `${label}: operator ${unknownOp[1]} not implemented on ${device}: try --device ${suggestion}`,
      { file: label, op: unknownOp[1], cause: err },
    );
  }
  if (/Protobuf parsing failed|does not have a graph|ModelProto|Failed to load model|INVALID_PROTOBUF|parse/i.test(text)) {
    return new RuntimeError(
      "corrupt-model",
      `${label}: not a valid ONNX model (the file is corrupt or truncated: ${firstLine(text)}). Download or export it again.`,
      { file: label, cause: err },
    );
  }
  if (/No such file|does not exist|ENOENT/i.test(text)) {
    return new RuntimeError("missing-file", `${label}: file not found (${firstLine(text)})`, { file: label, cause: err });
  }
  return new RuntimeError("load-failed", `${label}: could not be loaded on ${device}: ${firstLine(text)}`, { file: label, cause: err });
}

/** Translate an error raised by session.run(). */
export function translateRunError(err: unknown, label: string, device: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const text = errText(err);
  const dims = /invalid dimensions for input: (\S+) for the following indices\s*index: (\d+) Got: (\d+) Expected: (\d+)/.exec(text);
  if (dims) {
    return new RuntimeError(
      "bad-input",
      `${label}: input '${dims[1]}' has size ${dims[3]} in dimension ${dims[2]}, the model expects ${dims[4]}`,
      { file: label, tensor: dims[1], cause: err },
    );
  }
  const missing = /input '([^']+)' is missing in 'feeds'/.exec(text);
  if (missing) {
    return new RuntimeError("bad-input", `${label}: input '${missing[1]}' was not given`, { file: label, tensor: missing[1], cause: err });
  }
  const op = /Could not find an implementation for (\w+)/.exec(text);
  if (op) return translateLoadError(err, label, device);
  return new RuntimeError("run-failed", `${label}: run failed on ${device}: ${firstLine(text)}`, { file: label, cause: err });
}

function firstLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.slice(0, 3).join(" ")
    .replace(/\/onnxruntime_src\/\S+:\d+\s+/g, "")
    .replace(/onnxruntime::[\w:~<>]+\([^)]*\)\s*/g, "")
    .slice(0, 400);
}

/** onnxruntime messages carry source paths and C++ signatures; keep the part a user can read. */
export function cleanOrtMessage(e: unknown): string {
  let text = errText(e).split("\n").map((l) => l.trim()).filter(Boolean)[0] ?? "unknown error";
  text = text.replace(/\/onnxruntime_src\/\S+:\d+\s+/g, "");
  const afterAssert = /was false\.\s*(.*)$/.exec(text);
  if (afterAssert && afterAssert[1]) text = afterAssert[1];
  text = text.replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, "");
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
