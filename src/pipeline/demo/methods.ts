// What the demo compares and how it scores them: the methods (each a way to set per-row epsilon), the metrics
// (with the task types they are measured on and which way is better), and the paired differences it reports.
import type { MethodInfo, MetricInfo } from './results.js';

export const METHODS: readonly MethodInfo[] = [
  { id: 'sft', label: 'SFT', description: 'plain cross-entropy (epsilon 0)', oracle: false },
  { id: 'ls', label: 'LS', description: 'label smoothing with one constant epsilon for every row (the mean UAL epsilon)', oracle: false },
  { id: 'ual', label: 'UAL', description: 'per-row epsilon from the elicited uncertainty (paper mapping, same mean)', oracle: false },
  { id: 'ual-oracle', label: 'UAL (oracle)', description: 'per-row epsilon from the true answer entropy: perfect uncertainty estimates, which a real user does not have (the best elicitation can do)', oracle: true },
  { id: 'ls-teacher', label: 'LS-teacher', description: 'LS\'s constant epsilon, smoothed toward the teacher\'s top-32 next tokens (ual distill) instead of the whole vocabulary', oracle: false },
  { id: 'ual-teacher', label: 'UAL-teacher', description: 'UAL\'s per-row epsilon, smoothed toward the teacher\'s top-32 next tokens (ual distill) instead of the whole vocabulary', oracle: false },
];

/** How a method trains: its loss, where its smoothing mass goes, and which of a seed's training files it reads. */
export function methodTraining(id: string): { loss: 'sft' | 'ls' | 'ual'; smoothTarget: 'uniform' | 'teacher'; file: string } {
  const teacher = id.endsWith('-teacher');
  const loss = id === 'sft' ? 'sft' : id.startsWith('ls') ? 'ls' : 'ual';
  // the teacher methods read the UAL rows with the teacher's targets added (LS ignores their per-row epsilon)
  const file = teacher ? 'teacher' : id === 'ual' || id === 'ual-oracle' ? id : '';
  return { loss, smoothTarget: teacher ? 'teacher' : 'uniform', file };
}

/** top-k of the teacher targets the demo distills */
export const DEMO_TOP_K = 32;

export const METRICS: readonly MetricInfo[] = [
  { id: 'accuracy', label: 'accuracy', description: 'exact match of the "#### N" answer, greedy decoding, arithmetic test problems', tasks: 'low', higher_is_better: true },
  { id: 'ece', label: 'ECE', description: 'expected calibration error (15 bins) of next-token confidence on the arithmetic reference answers', tasks: 'low', higher_is_better: false },
  { id: 'validity', label: 'validity', description: 'share of sampled answers (temperature 1, no truncation) that are valid answers to the open request', tasks: 'high', higher_is_better: true },
  { id: 'coverage', label: 'coverage', description: 'share of the valid answers produced at least once (temperature 1)', tasks: 'high', higher_is_better: true },
  { id: 'tv', label: 'TV distance', description: 'total variation between the answers sampled at temperature 1 and the true answer distribution', tasks: 'high', higher_is_better: false },
  { id: 'validity_p', label: 'validity (top-p)', description: 'validity with nucleus sampling (top-p 0.9), as deployed models decode', tasks: 'high', higher_is_better: true },
  { id: 'coverage_p', label: 'coverage (top-p)', description: 'coverage with nucleus sampling (top-p 0.9)', tasks: 'high', higher_is_better: true },
  { id: 'tv_p', label: 'TV (top-p)', description: 'total variation with nucleus sampling (top-p 0.9)', tasks: 'high', higher_is_better: false },
  { id: 'silhouette', label: 'silhouette', description: 'mean silhouette of final hidden states grouped by next token (pairs of frequent tokens, 2-D PCA)', tasks: 'all', higher_is_better: true },
];

export const PAIRS: [string, string][] = [
  ['ual', 'sft'], ['ual', 'ls'], ['ual-oracle', 'ual'], ['ual-teacher', 'sft'], ['ual-teacher', 'ual'], ['ls-teacher', 'ls'],
];

