// JSON text → value without losing the digits of big integers. ComfyUI seeds run up to 2^64 − 1,
// beyond what a JavaScript number holds exactly; Sluice keeps such seeds as decimal strings.

/**
 * Parses JSON like JSON.parse, except that integer literals outside strings whose value is beyond
 * Number.MAX_SAFE_INTEGER (in either direction) become decimal strings with every digit kept.
 * Fractions and exponents are left to JSON.parse. Throws JSON.parse's SyntaxError on bad input.
 */
export function parseJsonKeepingBigInts(text: string): unknown {
  const n = text.length;
  const isDigit = (i: number) => i < n && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57;
  let out = "";
  let copiedUpTo = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Skip the string, escapes included; an unterminated one is JSON.parse's to report.
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i += 2;
        else if (d === 34) { i++; break; } else i++;
      }
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      const start = i;
      if (c === 45) i++;
      while (isDigit(i)) i++;
      const intEnd = i;
      let integer = intEnd > start + (c === 45 ? 1 : 0);
      if (text[i] === ".") { integer = false; i++; while (isDigit(i)) i++; }
      if (text[i] === "e" || text[i] === "E") {
        integer = false;
        i++;
        if (text[i] === "+" || text[i] === "-") i++;
        while (isDigit(i)) i++;
      }
      if (integer) {
        const literal = text.slice(start, intEnd);
        if (literal.replace(/^-?0*/, "").length >= 16 && !Number.isSafeInteger(Number(literal))) {
          out += text.slice(copiedUpTo, start) + `"${literal}"`;
          copiedUpTo = intEnd;
        }
      }
      continue;
    }
    i++;
  }
  return JSON.parse(copiedUpTo === 0 ? text : out + text.slice(copiedUpTo));
}
