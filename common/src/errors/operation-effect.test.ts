import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { grpcStatusByCode } from './grpc-status.js';
import { mayHaveTakenEffect, operationEffectByCode } from './operation-effect.js';
import { errorClasses, type QuireErrorCode } from './quire-error.js';

const codes = Object.keys(errorClasses) as QuireErrorCode[];

/** The rows of the first markdown table after `heading`, as cells without backticks. */
function tableAfter(markdown: string, heading: string): string[][] {
  const at = markdown.indexOf(heading);
  expect(at, `heading "${heading}"`).toBeGreaterThanOrEqual(0);
  const lines = markdown.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim().replaceAll('`', '')),
    );
  }
  return rows;
}

/** code → [gRPC status, may have taken effect] from a table with those columns (by header name). */
function effectsIn(path: string, heading: string): Map<string, [string, string]> {
  const [header = [], , ...body] = tableAfter(readFileSync(fileURLToPath(new URL(path, import.meta.url)), 'utf8'), heading);
  const column = (name: string): number => {
    const i = header.indexOf(name);
    expect(i, `column "${name}" in ${path}`).toBeGreaterThanOrEqual(0);
    return i;
  };
  const [codeAt, statusAt, effectAt] = [column('code'), column('gRPC status'), column('may have taken effect')];
  return new Map(body.map((cells) => [cells[codeAt] ?? '', [cells[statusAt] ?? '', cells[effectAt] ?? '']]));
}

describe('whether a failed operation may have taken effect', () => {
  it('is "unknown" for AMBIGUOUS_RESULT alone', () => {
    expect(codes.filter((c) => mayHaveTakenEffect(c))).toEqual(['AMBIGUOUS_RESULT']);
    expect(Object.keys(operationEffectByCode).sort()).toEqual([...codes].sort());
  });

  // A new code fails here until both tables classify it the way the code does.
  it.each([
    ['../../../docs/architecture.md', '### Did the operation take effect?'],
    ['../../OVERVIEW.md', '## The error table'],
  ])('matches the table in %s, code by code (status and effect)', (path, heading) => {
    const documented = effectsIn(path, heading);
    expect([...documented.keys()].sort()).toEqual([...codes].sort());
    for (const code of codes) {
      expect(documented.get(code), code).toEqual([status[grpcStatusByCode[code]], operationEffectByCode[code]]);
    }
  });
});
