// User-facing errors: a stable code, a message naming the file/line/field, and the fix. The CLI prints these
// without a stack trace and exits non-zero; anything else is a bug and keeps its stack.

const UAL_ERROR_CODES = [
  'UAL_USAGE',
  'UAL_DATA_BAD_ROW',
  'UAL_DATA_BAD_FILE',
  'UAL_CHECKPOINT',
  'UAL_TOKENIZER',
  'UAL_MODEL_INPUT',
  'UAL_TRAIN_NONFINITE',
  'UAL_TORCH_UNAVAILABLE',
  'UAL_TORCH_WORKER',
  'UAL_ELICIT_PARSE',
  'UAL_ELICIT_HTTP',
  'UAL_ELICIT_AUTH',
  'UAL_ELICIT_FAILED',
  'UAL_ELICIT_UNSUPPORTED',
  'UAL_JUDGE_PARSE',
  'UAL_JUDGE_HTTP',
  'UAL_JUDGE_AUTH',
  'UAL_JUDGE_FAILED',
  'UAL_IO',
] as const;

export type UalErrorCode = (typeof UAL_ERROR_CODES)[number];

/** A code that crossed a process boundary as a string. */
export function isUalCode(s: string): s is UalErrorCode {
  return (UAL_ERROR_CODES as readonly string[]).includes(s);
}

export class UalError extends Error {
  readonly code: UalErrorCode;
  /** what the user should do about it; printed on its own line after the message */
  readonly hint?: string;

  constructor(code: UalErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'UalError';
    this.code = code;
    this.hint = hint;
  }
}

export class UsageError extends UalError {
  constructor(message: string, hint?: string) { super('UAL_USAGE', message, hint); }
}

/** A problem in one row of a data file (UAL_DATA_BAD_ROW), named by file, line and field; --skip-bad-rows may skip it. */
export class DataError extends UalError {
  constructor(file: string, line: number | null, field: string | null, problem: string, hint?: string,
    code: 'UAL_DATA_BAD_ROW' | 'UAL_DATA_BAD_FILE' = 'UAL_DATA_BAD_ROW') {
    const where = line === null ? file : `${file}:${line}`;
    super(code, `${where}${field ? ` field "${field}"` : ''}: ${problem}`, hint);
  }
}

/**
 * A problem with a data file as a whole (UAL_DATA_BAD_FILE): missing or unreadable, empty, a broken JSON array, a
 * format that cannot be told, no usable row. `line` points at where it showed, when it did at one.
 */
export class DataFileError extends DataError {
  constructor(file: string, problem: string, hint?: string, line: number | null = null) {
    super(file, line, null, problem, hint, 'UAL_DATA_BAD_FILE');
  }
}

export class CheckpointError extends UalError {
  constructor(message: string, hint?: string) { super('UAL_CHECKPOINT', message, hint); }
}

/**
 * A request that failed for good, for one row (elicitation) or one judgement (`ual eval judge`) only: the run goes
 * on and lists it as failed. Not a UalError on purpose: a UalError stops the whole run.
 */
export class RowFailure extends Error {
  constructor(readonly code: 'UAL_ELICIT_HTTP' | 'UAL_ELICIT_PARSE' | 'UAL_JUDGE_HTTP' | 'UAL_JUDGE_PARSE', message: string) {
    super(message);
    this.name = 'RowFailure';
  }
}
