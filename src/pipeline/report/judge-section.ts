// The report's section for judged pairs (`ual eval judge --out DIR/judge.jsonl`): the raw win rate beside the
// length-controlled one, the average lengths that separate them, and the fitted length effect.
import { summarizeJudge, type ItemJudgement, type JudgeItem } from '../../eval/judge.js';
import { esc } from '../../util/escape.js';
import { fmt } from './format.js';

export function judgeSection(items: JudgeItem[], results: ItemJudgement[], dir: string, id: string): string {
  const s = summarizeJudge(items, results);
  const row = (key: string, label: string, value: string, se = '') =>
    `<tr><th scope="row">${esc(label)}</th><td data-key="${key}">${esc(value)}</td><td data-key="${key}_se">${esc(se)}</td></tr>`;
  const { coef, length_scale: scale } = s.lc_fit;
  return [
    `<h2 id="${id}">judge win rate: ${esc(dir)}</h2>`,
    `<p class="what">What this is: ${fmt(s.n)} instructions judged by <code>ual eval judge</code>, each pair shown to the judge in both ` +
      'orders (ties count half). The raw win rate rewards whichever side writes more; the length-controlled win rate ' +
      '(AlpacaEval 2.0) is the rate a logistic model of the verdicts predicts when output and reference have the same ' +
      'length. Close to the raw rate: length did not sway the judge; below it: part of the raw rate came from writing longer ' +
      '(above: the model lost votes by writing shorter).</p>',
    `<table data-table="judge"><thead><tr><th></th><th>value</th><th>standard error</th></tr></thead><tbody>`,
    row('win_rate', 'win rate (%)', fmt(s.win_rate), fmt(s.standard_error)),
    row('lc_win_rate', 'length-controlled win rate (%)', fmt(s.lc_win_rate), fmt(s.lc_standard_error)),
    row('avg_length_model', 'average length of the outputs (characters)', fmt(s.avg_length.model)),
    row('avg_length_reference', 'average length of the references (characters)', fmt(s.avg_length.reference)),
    row('outcomes', 'won / tied / lost (failed)', `${s.wins} / ${s.ties} / ${s.losses} (${s.failed})`),
    row('lc_length', `length coefficient (per unit of tanh(length difference / ${fmt(scale)} characters))`, fmt(coef.length)),
    ...(coef.difficulty === undefined ? [] : [row('lc_difficulty', 'instruction difficulty coefficient', fmt(coef.difficulty))]),
    row('first_position_rate', 'verdicts for the output shown first (0.5 = no position bias)', fmt(s.first_position_rate)),
    '</tbody></table>',
    '<p class="note">Standard errors: of the mean preference for the win rate; for the length-controlled rate, the delta ' +
      'method on a sandwich covariance of the fitted coefficients (one term per instruction). The fit: preference ~ ' +
      `model term + tanh(length difference / sd)${coef.difficulty === undefined ? '' : ' + instruction difficulty'}, L2 penalty 1/(2·${fmt(s.lc_fit.C)}) on the coefficients (model term ${fmt(coef.model)}).</p>`,
  ].join('\n');
}
