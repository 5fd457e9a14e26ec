// The demo's evaluation inputs: reference sequences are tokenized exactly as training sees a row (paper template,
// prompt masked, the answer and EOS as targets), so ECE and the cluster states are measured where training taught.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchmarkWords } from '../../src/pipeline/demo/benchmark.js';
import { writeWordTokenizer } from '../../src/pipeline/demo/vocab.js';
import { referenceSeqs } from '../../src/pipeline/demo/evaluate.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { loadTextDataset } from '../../src/data/dataset.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-demo-eval-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('referenceSeqs', () => {
  it('matches what ual train makes of the same row, and targets only the answer and EOS', async () => {
    writeWordTokenizer(dir, benchmarkWords());
    const tk = loadTokenizer(dir);
    const row = { instruction: 'Tom has 3 apples. He buys 4 more. How many apples does Tom have now?', output: '3 + 4 = 7. #### 7' };
    const [seq] = referenceSeqs(tk, [row]);
    const file = path.join(dir, 'row.jsonl');
    fs.writeFileSync(file, JSON.stringify({ ...row, input: '' }) + '\n');
    const { rows } = await loadTextDataset(file, { tokenizer: tk, template: 'paper', maxLength: 128 });
    expect(Array.from(seq.ids)).toEqual(Array.from(rows[0].inputIds));
    expect(Array.from(seq.labels)).toEqual(Array.from(rows[0].labels));
    const targets = Array.from(seq.ids).filter((_, t) => seq.labels[t] !== -100);
    expect(targets[targets.length - 1]).toBe(tk.eosId);
    expect(tk.decode(targets.slice(0, -1))).toBe(row.output);
  });
});
