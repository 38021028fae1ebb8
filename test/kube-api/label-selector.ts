/** Label selectors as the API server parses them in `?labelSelector=` (equality- and set-based). */
export type Labels = Record<string, string> | undefined;
type Requirement = (labels: Record<string, string>) => boolean;

export class SelectorError extends Error {
  constructor(selector: string, detail: string) {
    super(`unable to parse requirement: ${detail} in selector "${selector}"`);
    this.name = 'SelectorError';
  }
}

/** Splits on commas that are not inside `(...)`. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

const KEY = '[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?';
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s+\\(([^)]*)\\)$`);
const EQUALITY = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`);
const EXISTS = new RegExp(`^(!?)(${KEY})$`);

export function parseLabelSelector(selector: string): (labels: Labels) => boolean {
  const requirements: Requirement[] = [];
  for (const term of splitTerms(selector)) {
    let m = SET.exec(term);
    if (m) {
      const key = m[1] as string;
      const values = (m[4] as string).split(',').map((v) => v.trim());
      const positive = m[3] === 'in';
      requirements.push((l) => (key in l && values.includes(l[key] as string)) === positive);
      continue;
    }
    m = EQUALITY.exec(term);
    if (m) {
      const key = m[1] as string;
      const value = m[4] as string;
      if (m[3] === '!=') requirements.push((l) => l[key] !== value);
      else requirements.push((l) => l[key] === value);
      continue;
    }
    m = EXISTS.exec(term);
    if (m) {
      const key = m[2] as string;
      const negated = m[1] === '!';
      requirements.push((l) => key in l !== negated);
      continue;
    }
    throw new SelectorError(selector, `invalid term "${term}"`);
  }
  return (labels) => requirements.every((r) => r(labels ?? {}));
}

/** A Service's `spec.selector` (a plain map) against a pod template's labels. Empty selects nothing. */
export function selectorMatches(selector: Labels, labels: Labels): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}
