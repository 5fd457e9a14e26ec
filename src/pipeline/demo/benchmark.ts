// The demo's benchmark, generated from a seed with no downloaded data: GSM8K-style arithmetic (one right answer)
// and open requests whose true answer distribution is known exactly (name a fruit, pick a number...), so accuracy
// and distribution match can both be measured against ground truth.
import { Rng } from '../../util/rng.js';

export type Entropy = 'low' | 'high';

/** An answer of an open request and its true probability. */
export interface Answer { text: string; p: number }

export interface TaskType {
  id: string;
  label: string;
  entropy: Entropy;
  /** open requests: every valid answer with its probability (sums to 1); arithmetic: none */
  answers: Answer[];
  /** nats; 0 for a task with one right answer */
  oracleEntropy: number;
}

/** One instruction and its reference answer (Alpaca layout, plus what the evaluation needs). */
export interface Sample {
  instruction: string;
  input: string;
  output: string;
  type: string;
  /** arithmetic: the number after "####" */
  gold?: string;
}

const NAMES: readonly [string, 'He' | 'She'][] = [
  ['Tom', 'He'], ['Ann', 'She'], ['Sam', 'He'], ['Mia', 'She'], ['Ben', 'He'], ['Lily', 'She'], ['Max', 'He'], ['Zoe', 'She'],
];
const ITEMS = ['apples', 'pens', 'cards', 'books', 'coins', 'stickers', 'marbles', 'eggs'];

/** Zipf-like weights 1/(k+1), normalised: a skewed distribution a model must match, not just a uniform one. */
function zipf(words: readonly string[], suffix: string): Answer[] {
  const w = words.map((_, k) => 1 / (k + 1));
  const z = w.reduce((a, b) => a + b, 0);
  return words.map((t, k) => ({ text: t + suffix, p: w[k] / z }));
}

function uniform(words: readonly string[]): Answer[] {
  return words.map((text) => ({ text, p: 1 / words.length }));
}

const FRUITS = ['apple', 'banana', 'orange', 'grape', 'mango', 'pear', 'cherry', 'peach', 'lemon', 'plum'];
const COLOURS = ['red', 'blue', 'green', 'yellow', 'black', 'white'];
const ANIMALS = ['cat', 'dog', 'horse', 'rabbit', 'lion', 'bird', 'fish', 'bear'];
const GREETINGS = ['Hello!', 'Hi there!', 'Good morning!', 'Hey!', 'Greetings!', 'Good day!', 'Hello there!'];

function colourAnimal(): Answer[] {
  const colours = zipf(COLOURS, '');
  const out: Answer[] = [];
  for (const c of colours) for (const a of ANIMALS) out.push({ text: `${c.text} ${a}.`, p: c.p / ANIMALS.length });
  return out;
}

function entropyOf(answers: readonly Answer[]): number {
  let h = 0;
  for (const a of answers) if (a.p > 0) h -= a.p * Math.log(a.p);
  return h;
}

function task(id: string, label: string, entropy: Entropy, answers: Answer[] = []): TaskType {
  return { id, label, entropy, answers, oracleEntropy: entropyOf(answers) };
}

export const TASK_TYPES: readonly TaskType[] = [
  task('arith-1', 'arithmetic, 1 step', 'low'),
  task('arith-2', 'arithmetic, 2 steps', 'low'),
  task('arith-3', 'arithmetic, 3 steps', 'low'),
  task('fruit', 'name a fruit', 'high', zipf(FRUITS, '.')),
  task('number', 'a number from 10 to 30', 'high', uniform(Array.from({ length: 21 }, (_, i) => `${10 + i}.`))),
  task('colour-animal', 'a colour and an animal', 'high', colourAnimal()),
  task('greeting', 'a short greeting', 'high', zipf(GREETINGS, '')),
];

export function taskType(id: string): TaskType {
  const t = TASK_TYPES.find((x) => x.id === id);
  if (!t) throw new Error(`unknown demo task type "${id}"`);
  return t;
}

/** Paraphrases of each open request; the last one of each is held out of training (a test of generalisation). */
export const OPEN_PROMPTS: Readonly<Record<string, readonly string[]>> = {
  fruit: ['Name a fruit.', 'Tell me the name of a fruit.', 'Can you name any fruit?', 'Give me one fruit.', 'Which fruit comes to mind?'],
  number: ['Pick a number between 10 and 30.', 'Choose any number from 10 to 30.', 'Give me a number between 10 and 30.', 'Say a number from 10 to 30.'],
  'colour-animal': ['Name a colour and an animal.', 'Tell me a colour and an animal.', 'Give me one colour and one animal.', 'Say a colour and then an animal.'],
  greeting: ['Say a short greeting.', 'Greet me in a few words.', 'How would you say hello?', 'Give me a friendly greeting.'],
};

function draw(rng: Rng, answers: readonly Answer[]): string {
  let u = rng.next();
  for (const a of answers) { u -= a.p; if (u < 0) return a.text; }
  return answers[answers.length - 1].text;
}

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng.next() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)];

/** A word problem of 1-3 steps with its worked answer; operands are single digits so every number stays below 100. */
export function arithmetic(rng: Rng, steps: 1 | 2 | 3): Sample {
  const [name, he] = pick(rng, NAMES);
  const item = pick(rng, ITEMS);
  let q: string, work: string[], c: number;
  if (steps === 1) {
    const a = int(rng, 2, 9), b = int(rng, 1, 9);
    if (rng.next() < 0.5) {
      c = a + b;
      q = `${name} has ${a} ${item}. ${he} buys ${b} more. How many ${item} does ${name} have now?`;
      work = [`${a} + ${b} = ${c}.`];
    } else {
      const bb = Math.min(b, a);
      c = a - bb;
      q = `${name} has ${a} ${item}. ${he} gives away ${bb}. How many ${item} does ${name} have left?`;
      work = [`${a} - ${bb} = ${c}.`];
    }
  } else if (steps === 2) {
    const a = int(rng, 2, 9), b = int(rng, 1, 9), s = a + b, d = int(rng, 1, Math.min(9, s));
    c = s - d;
    q = `${name} has ${a} ${item}. ${he} buys ${b} more and then gives away ${d}. How many ${item} does ${name} have now?`;
    work = [`${a} + ${b} = ${s}.`, `${s} - ${d} = ${c}.`];
  } else {
    const a = int(rng, 2, 9), b = int(rng, 2, 9), m = a * b, d = int(rng, 1, 9), s = m + d, e = int(rng, 1, Math.min(9, s));
    c = s - e;
    q = `${name} has ${a} bags with ${b} ${item} in each bag. ${he} finds ${d} more ${item} and then gives away ${e}. How many ${item} does ${name} have now?`;
    work = [`${a} * ${b} = ${m}.`, `${m} + ${d} = ${s}.`, `${s} - ${e} = ${c}.`];
  }
  return { instruction: q, input: '', output: `${work.join(' ')} #### ${c}`, type: `arith-${steps}`, gold: String(c) };
}

export function openRequest(rng: Rng, type: string, prompts: readonly string[]): Sample {
  return { instruction: pick(rng, prompts), input: '', output: draw(rng, taskType(type).answers), type };
}

export interface SplitSizes {
  /** arithmetic problems per step count */
  arithmetic: number;
  /** rows per open request type */
  open: number;
}

const OPEN_TYPES = Object.keys(OPEN_PROMPTS);

/**
 * Training rows for one seed: arithmetic problems (none equal to a test problem) and open requests on the training
 * paraphrases with answers drawn from the true distribution; shuffled together.
 */
export function trainSplit(seed: number, sizes: SplitSizes, exclude: ReadonlySet<string>): Sample[] {
  const rng = new Rng(0x5eed0000 + seed);
  const rows: Sample[] = [];
  for (const steps of [1, 2, 3] as const) {
    let made = 0, tries = 0;
    while (made < sizes.arithmetic && tries++ < sizes.arithmetic * 50) {
      const s = arithmetic(rng, steps);
      if (exclude.has(s.instruction)) continue;
      rows.push(s);
      made++;
    }
  }
  for (const type of OPEN_TYPES) {
    const prompts = OPEN_PROMPTS[type].slice(0, -1);
    for (let i = 0; i < sizes.open; i++) rows.push(openRequest(rng, type, prompts));
  }
  const order = rng.permutation(rows.length);
  return Array.from(order, (i) => rows[i]);
}

export interface TestSplit {
  /** distinct arithmetic problems, answered greedily */
  arithmetic: Sample[];
  /** every paraphrase of every open request (the held-out one included), sampled many times */
  open: { type: string; instruction: string; heldOut: boolean }[];
}

/** The test split: fixed by the benchmark seed alone, so every method and seed is scored on the same prompts. */
export function testSplit(benchmarkSeed: number, perSteps: number): TestSplit {
  const rng = new Rng(0x7e570000 + benchmarkSeed);
  const seen = new Set<string>();
  const problems: Sample[] = [];
  for (const steps of [1, 2, 3] as const) {
    let made = 0, tries = 0;
    while (made < perSteps && tries++ < perSteps * 50) {
      const s = arithmetic(rng, steps);
      if (seen.has(s.instruction)) continue;
      seen.add(s.instruction);
      problems.push(s);
      made++;
    }
  }
  const open = OPEN_TYPES.flatMap((type) => OPEN_PROMPTS[type].map((instruction, i, all) => ({ type, instruction, heldOut: i === all.length - 1 })));
  return { arithmetic: problems, open };
}

/**
 * Pretraining text from the same world, without the instruction format: the stories and sums behind the problems
 * and plain statements of the open answers (drawn from the same distributions), one short document per line.
 */
export function pretrainText(seed: number, docs: number): string[] {
  const rng = new Rng(0xba5e0000 + seed);
  const out: string[] = [];
  const says: Record<string, (a: string) => string> = {
    fruit: (a) => `${pick(rng, ['My favourite fruit is', 'I like to eat', 'A good fruit is'])} ${a.replace(/\.$/, '')}.`,
    number: (a) => `${pick(rng, ['A number between 10 and 30 is', 'I picked the number'])} ${a}`,
    'colour-animal': (a) => `${pick(rng, ['I saw a', 'There is a'])} ${a}`,
    greeting: (a) => `${pick(rng, ['Ann said', 'Tom said', 'She said'])} ${a}`,
  };
  for (let i = 0; i < docs; i++) {
    const u = rng.next();
    if (u < 0.6) {
      const s = arithmetic(rng, (1 + Math.floor(rng.next() * 3)) as 1 | 2 | 3);
      out.push(`${s.instruction.replace(/ How many .*$/, '')} ${s.output.replace(/ #### \d+$/, '')} So the answer is ${s.gold}.`);
    } else if (u < 0.75) {
      const a = int(rng, 0, 9), b = int(rng, 0, 9);
      const op = pick(rng, ['+', '-', '*'] as const);
      const [x, y] = op === '-' && b > a ? [b, a] : [a, b];
      out.push(`${x} ${op} ${y} = ${op === '+' ? x + y : op === '-' ? x - y : x * y}.`);
    } else {
      const type = pick(rng, OPEN_TYPES);
      out.push(says[type](draw(rng, taskType(type).answers)));
    }
  }
  return out;
}

/** Every word the benchmark can produce, for the word-level tokenizer (punctuation is split off as a suffix). */
export function benchmarkWords(): string[] {
  const words = new Set<string>();
  const add = (text: string) => { for (const w of text.split(/\s+/)) if (w) words.add(w.replace(/[.,?!:]+$/, '')); };
  for (let n = 0; n < 100; n++) words.add(String(n));
  for (const [n, he] of NAMES) { words.add(n); words.add(he); }
  for (const i of ITEMS) words.add(i);
  for (const t of TASK_TYPES) for (const a of t.answers) add(a.text);
  for (const ps of Object.values(OPEN_PROMPTS)) for (const p of ps) add(p);
  const rng = new Rng(1);
  for (let i = 0; i < 300; i++) for (const s of [1, 2, 3] as const) { const x = arithmetic(rng, s); add(x.instruction); add(x.output); }
  for (const line of pretrainText(2, 2000)) add(line);
  for (const w of ['###', 'User', 'Assistant', '####', '+', '-', '*', '=']) words.add(w);
  words.delete('');
  return [...words].sort();
}
