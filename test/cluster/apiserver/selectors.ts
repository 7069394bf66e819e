// Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels and /fields.
import { badRequest } from "./status.ts";

type LabelOperator = "exists" | "doesNotExist" | "equals" | "notEquals" | "in" | "notIn" | "gt" | "lt";

interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function selectorError(detail: string): never {
  throw badRequest(`unable to parse requirement: ${detail}`);
}

function checkKey(key: string): void {
  if (!LABEL_KEY.test(key) || key.length > 317) {
    selectorError(`values[0][${key}]: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
}

function checkValue(key: string, value: string): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    selectorError(`values[0][${key}]: Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
}

/** Splits on commas that are not inside "(...)". */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

export function parseLabelSelector(text: string | undefined): LabelSelector {
  if (text === undefined || text.trim() === "") return [];
  const requirements: LabelRequirement[] = [];
  for (const rawPart of splitTopLevel(text)) {
    const part = rawPart.trim();
    if (part === "") selectorError("found '', expected: !, identifier, or 'end of string'");
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s!=<>(),]+)$/.exec(part))) {
      checkKey(m[1] ?? "");
      requirements.push({ key: m[1] ?? "", operator: "doesNotExist", values: [] });
    } else if ((m = /^([^\s!=<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part))) {
      const key = m[1] ?? "";
      checkKey(key);
      const values = (m[3] ?? "").split(",").map((v) => v.trim());
      for (const v of values) checkValue(key, v);
      requirements.push({ key, operator: m[2] === "in" ? "in" : "notIn", values });
    } else if ((m = /^([^\s!=<>(),]+)\s*(==|=|!=|>|<)\s*([^\s!=<>(),]*)$/.exec(part))) {
      const key = m[1] ?? "";
      const value = m[3] ?? "";
      checkKey(key);
      const op = m[2];
      if (op === ">" || op === "<") {
        if (!/^-?\d+$/.test(value)) selectorError(`for 'Gt', 'Lt' operators, the value must be an integer`);
        requirements.push({ key, operator: op === ">" ? "gt" : "lt", values: [value] });
      } else {
        checkValue(key, value);
        requirements.push({ key, operator: op === "!=" ? "notEquals" : "equals", values: [value] });
      }
    } else if ((m = /^([^\s!=<>(),]+)$/.exec(part))) {
      checkKey(m[1] ?? "");
      requirements.push({ key: m[1] ?? "", operator: "exists", values: [] });
    } else {
      selectorError(`found '${part}', expected: !, identifier, or 'end of string'`);
    }
  }
  return requirements;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const value = l[r.key];
    switch (r.operator) {
      case "exists":
        return has;
      case "doesNotExist":
        return !has;
      case "equals":
      case "in":
        return has && r.values.includes(value ?? "");
      case "notEquals":
      case "notIn":
        return !has || !r.values.includes(value ?? "");
      case "gt":
        return has && /^-?\d+$/.test(value ?? "") && Number(value) > Number(r.values[0]);
      case "lt":
        return has && /^-?\d+$/.test(value ?? "") && Number(value) < Number(r.values[0]);
    }
  });
}

interface FieldRequirement {
  field: string;
  negate: boolean;
  value: string;
}

export type FieldSelector = FieldRequirement[];

/** Splits on an unescaped separator; fields.ParseSelector allows "\," "\=" "\!" "\\". */
function splitUnescaped(text: string, separator: string): string[] {
  const out: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? "";
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + (text[i + 1] ?? "");
      i++;
    } else if (ch === separator) {
      out.push(current);
      current = "";
    } else current += ch;
  }
  out.push(current);
  return out;
}

function unescapeFieldValue(v: string): string {
  if (/\\[^\\,=!]|\\$/.test(v)) throw badRequest(`invalid field selector: invalid escape sequence in value "${v}"`);
  return v.replace(/\\(.)/g, "$1");
}

export function parseFieldSelector(text: string | undefined, supported: readonly string[]): FieldSelector {
  if (text === undefined || text.trim() === "") return [];
  const requirements: FieldRequirement[] = [];
  for (const part of splitUnescaped(text, ",")) {
    const m = /^([^=!]+?)\s*(==|=|!=)(.*)$/s.exec(part);
    if (!m) throw badRequest(`invalid field selector: invalid selector: '${text}'; can't understand '${part}'`);
    const field = (m[1] ?? "").trim();
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    requirements.push({ field, negate: m[2] === "!=", value: unescapeFieldValue(m[3] ?? "") });
  }
  return requirements;
}

export function matchesFields(selector: FieldSelector, fields: Record<string, string>): boolean {
  return selector.every((r) => {
    const actual = fields[r.field] ?? "";
    return r.negate ? actual !== r.value : actual === r.value;
  });
}
