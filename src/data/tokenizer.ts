// Tokenizers from a Hugging Face directory (tokenizer.json + tokenizer_config.json) via @huggingface/tokenizers:
// encode/decode, the special tokens (bos/eos/pad) and the chat template, with clear errors when files are missing.
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { UalError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';

export const TOKENIZER_JSON = 'tokenizer.json';
export const TOKENIZER_CONFIG = 'tokenizer_config.json';
/** what travels with a checkpoint so the tokenizer loads elsewhere (HF layout) */
export const TOKENIZER_FILES = [TOKENIZER_JSON, TOKENIZER_CONFIG, 'special_tokens_map.json'] as const;

function tokErr(message: string, hint?: string): UalError {
  return new UalError('UAL_TOKENIZER', message, hint);
}

function readJson(file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw tokErr(`${file}: cannot read it as JSON (${(e as Error).message})`, `re-download or re-save ${path.basename(file)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw tokErr(`${file}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Special tokens appear as "text" or as an AddedToken object {"content": "text", ...}. */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

export function hasTokenizer(dir: string): boolean {
  return fs.existsSync(path.join(dir, TOKENIZER_JSON));
}

export class Tokenizer {
  readonly dir: string;
  /** tokenizer_config.json as read ({} when absent) */
  readonly config: Record<string, unknown>;
  /** max token id + 1, added tokens included: the smallest vocab_size a model for this tokenizer can have */
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  /** the Jinja chat template from tokenizer_config.json, if any */
  readonly chatTemplate: string | null;
  private readonly tk: HFTokenizer;

  private constructor(dir: string, tk: HFTokenizer, config: Record<string, unknown>, extra: Record<string, unknown>) {
    this.dir = dir;
    this.tk = tk;
    this.config = config;
    let maxId = -1;
    for (const id of tk.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const special = (key: string): string | null => tokenText(config[key]) ?? tokenText(extra[key]);
    this.bosToken = special('bos_token');
    // GPT-2's own tokenizer_config names no eos; its (and Qwen's) end-of-text token is the convention
    this.eosToken = special('eos_token') ?? (tk.token_to_id('<|endoftext|>') !== undefined ? '<|endoftext|>' : null);
    this.padToken = special('pad_token');
    const id = (t: string | null): number | null => (t === null ? null : tk.token_to_id(t) ?? null);
    this.bosId = id(this.bosToken);
    this.eosId = id(this.eosToken);
    this.padId = id(this.padToken);
    const tpl = config.chat_template;
    this.chatTemplate = typeof tpl === 'string' ? tpl
      : Array.isArray(tpl) ? (tpl.find((t) => t?.name === 'default')?.template ?? null) : null;
  }

  /** Load DIR/tokenizer.json (+ tokenizer_config.json, special_tokens_map.json when present). */
  static load(dir: string): Tokenizer {
    const file = path.join(dir, TOKENIZER_JSON);
    if (!fs.existsSync(file)) {
      const present = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
      const slow = present.filter((f) => ['vocab.json', 'merges.txt', 'tokenizer.model', 'vocab.txt'].includes(f));
      throw tokErr(`${dir}: no ${TOKENIZER_JSON}${slow.length ? ` (found ${slow.join(', ')}: a "slow" tokenizer)` : ''}`,
        slow.length
          ? 'write tokenizer.json with transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)'
          : fs.existsSync(dir) ? 'copy the model\'s tokenizer.json and tokenizer_config.json into the directory, or pass token ids instead of text'
            : `the directory ${dir} does not exist`);
    }
    const json = readJson(file);
    const cfgFile = path.join(dir, TOKENIZER_CONFIG);
    const config = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
    const mapFile = path.join(dir, 'special_tokens_map.json');
    const extra = fs.existsSync(mapFile) ? readJson(mapFile) : {};
    let tk: HFTokenizer;
    try {
      tk = new HFTokenizer(json, config);
    } catch (e) {
      throw tokErr(`${file}: @huggingface/tokenizers cannot build it (${(e as Error).message})`,
        'the tokenizer type may be unsupported; check tokenizer.json comes from a recent transformers version');
    }
    return new Tokenizer(dir, tk, config, extra);
  }

  /** Text -> ids; addSpecialTokens (default true) applies the tokenizer's post-processor (e.g. Llama's BOS). */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tk.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Ids -> text; skipSpecialTokens (default false) drops eos/pad/chat markers. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.tk.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tk.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tk.id_to_token(id);
  }
}

export function loadTokenizer(dir: string): Tokenizer {
  return Tokenizer.load(dir);
}

/** Copy the tokenizer files present in srcDir into dstDir (each atomically); returns the names copied. */
export function copyTokenizerFiles(srcDir: string, dstDir: string): string[] {
  if (!hasTokenizer(srcDir)) Tokenizer.load(srcDir); // throws the explanatory error
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const src = path.join(srcDir, f);
    if (!fs.existsSync(src)) continue;
    writeFileAtomic(path.join(dstDir, f), fs.readFileSync(src));
    copied.push(f);
  }
  return copied;
}
