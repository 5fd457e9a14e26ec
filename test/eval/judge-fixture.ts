// The pairs the `ual eval judge` tests judge (online and --batch): five instructions tagged item-N, the model's and
// the reference outputs written as AlpacaEval files, and the two outputs a judge request shows, read back.
import fs from 'node:fs';
import path from 'node:path';

export const ITEMS = [
  { instruction: 'Task item-0: explain rain', output: 'GOOD: clouds condense.', reference: 'meh' },
  { instruction: 'Task item-1: name a fruit', output: 'meh', reference: 'GOOD: an apple' },
  { instruction: 'Task item-2: count to 3', output: 'GOOD: 1 2 3', reference: 'meh' },
  { instruction: 'Task item-3: say hi', output: 'TIE hi', reference: 'TIE hello' },
  { instruction: 'Task item-4 BIAS: pick', output: 'x', reference: 'y' },
];

/** The references and the model's predictions as AlpacaEval JSON files in dir. */
export function judgeFiles(dir: string, items: typeof ITEMS, tag: string): { refs: string; preds: string } {
  const refs = path.join(dir, `refs-${tag}.json`);
  const preds = path.join(dir, `preds-${tag}.json`);
  fs.writeFileSync(refs, JSON.stringify(items.map((i) => ({ dataset: 'test', instruction: i.instruction, output: i.reference, generator: 'ref' })), null, 1));
  fs.writeFileSync(preds, JSON.stringify(items.map((i) => ({ instruction: i.instruction, output: i.output, generator: 'mine' })), null, 1));
  return { refs, preds };
}

/** The two outputs a request shows, read back from the prompt. */
export function shownIn(body: { messages: Array<{ role: string; content: string }> }): { a: string; b: string; instruction: string } {
  const u = body.messages.find((m) => m.role === 'user')!.content;
  const m = /## Instruction\n([\s\S]*?)\n\n## Output \(a\)\n([\s\S]*?)\n\n## Output \(b\)\n([\s\S]*?)\n\nReply with/.exec(u)!;
  return { instruction: m[1], a: m[2], b: m[3] };
}

/** The verdict of a judge that prefers the output saying GOOD, ties TIE pairs and always picks (a) on BIAS. */
export function fairVerdict(body: { messages: Array<{ role: string; content: string }> }): string {
  const { a, b, instruction } = shownIn(body);
  if (instruction.includes('BIAS')) return 'Output (a)';
  if (a.includes('TIE') && b.includes('TIE')) return 'Tie';
  return a.includes('GOOD') ? 'Output (a)' : 'Output (b)';
}
