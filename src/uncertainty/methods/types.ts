// The contract every elicitation method fulfils, so the runner (cache, scheduling, output) never branches on
// the method: a method says what its cache key holds, how many answers a sample needs, how to get one, and how
// answers become a 0–99 score.
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { Answer } from '../cache.js';
import type { Message } from '../../data/formats.js';

export interface MethodOptions {
  model: string;
  promptFile?: string;
  /** sampling: answers per sample */
  samples: number;
  /** undefined: the method's own default */
  temperature?: number;
  /** undefined: the method's default; 0: send no limit (models that refuse max_tokens) */
  maxTokens?: number;
  /** logprobs: alternatives per position */
  topLogprobs: number;
  /** logprobs: how many leading answer tokens to average over */
  answerTokens: number;
  /** verbalized: how often an unreadable reply is asked again */
  parseRetries: number;
}

export interface MethodContext {
  /** the robust client call (paced, retried); throws RowFailure or a run-stopping UalError */
  chat(body: ChatCompletionCreateParamsNonStreaming): Promise<ChatCompletion>;
  scrub(s: string): string;
  /** report one re-ask after an unreadable reply (progress) */
  reasked(): void;
  baseURL: string;
}

export interface Estimate { requests: number; promptTokens: number; completionTokens: number }

export interface Elicitor {
  readonly name: string;
  /** false for methods that run locally (self) */
  readonly server: boolean;
  /** cache-key parts: prompt id and the parameters that change the answer */
  readonly promptId: string;
  readonly params: Record<string, unknown>;
  readonly answersPerSample: number;
  estimate(turns: Message[]): Estimate;
  answer(turns: Message[], idx: number, ctx: MethodContext): Promise<Answer>;
  score(answers: Answer[]): number;
}

/** Helper shared by methods: `max_tokens` only when there is a limit to send. */
export function maxTokensParam(n: number): { max_tokens?: number } {
  return n > 0 ? { max_tokens: n } : {};
}

export function usageOf(c: ChatCompletion): { promptTokens: number; completionTokens: number } {
  return { promptTokens: c.usage?.prompt_tokens ?? 0, completionTokens: c.usage?.completion_tokens ?? 0 };
}
