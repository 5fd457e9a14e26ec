// Reading a 0–99 score out of a judge's reply: strict about meaning, tolerant about form. Accepts a bare number,
// `Score: N`, JSON `{"score": N}` (also inside a code fence or after <think> reasoning); anything ambiguous,
// out of range or missing is null, and the caller asks again. A score is never guessed.

const KEYS = ['score', 'uncertainty', 'rating'];

function inRange(x: number): number | null {
  return Number.isFinite(x) && x >= 0 && x <= 99 ? x : null;
}

function fromJson(text: string): number | null | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined; // not JSON at all: let the other readers try
  }
  if (typeof v === 'number') return inRange(v);
  if (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v)) return inRange(Number(v));
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (!KEYS.includes(k.toLowerCase())) continue;
      if (typeof x === 'number') return inRange(x);
      if (typeof x === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(x)) return inRange(Number(x));
      return null;
    }
  }
  return null;
}

export function parseScore(reply: string): number | null {
  // Reasoning models put their thinking in the content; only what follows it is the answer.
  let text = reply.replace(/<think>[\s\S]*?<\/think>/gi, '').trim();
  if (/<think>/i.test(text)) return null; // thinking never finished (truncated): no answer yet
  const fence = /^```[a-zA-Z]*\s*\n?([\s\S]*?)\n?```$/.exec(text);
  if (fence) text = fence[1].trim();

  const whole = fromJson(text);
  if (whole !== undefined) return whole;
  if (/^\d+(\.\d+)?\.?$/.test(text)) return inRange(Number(text.replace(/\.$/, '')));

  // Inside prose: every JSON object and every "score: N" must agree, else the reply is ambiguous.
  const found: number[] = [];
  for (const m of text.matchAll(/\{[^{}]*\}/g)) {
    const v = fromJson(m[0]);
    if (v === null) return null;
    if (v !== undefined) found.push(v);
  }
  for (const m of text.matchAll(/\b(?:score|rating|uncertainty)\b\**\s*(?:[:=]|is)\s*\**\s*(-?\d+(?:\.\d+)?)(?!\.?\d)(?:\s*\/\s*(\d+))?/gi)) {
    // "85/100" is a different scale: reading it as 85 on ours would be a guess
    const v = m[2] !== undefined && m[2] !== '99' ? null : inRange(Number(m[1]));
    if (v === null) return null;
    found.push(v);
  }
  if (found.length === 0) return null;
  return found.every((x) => x === found[0]) ? found[0] : null;
}
