import { describe, expect, it } from 'vitest';
import { parseHistory } from './parse-history.js';
import { InvalidHistoryError } from './invalid-history-error.js';
import { historyText } from './testing/history-text.js';

const line = (fields: Record<string, unknown>): string => JSON.stringify(fields);
const write = (index: number, type: string, time: number, extra: Record<string, unknown> = {}): string =>
  line({ index, process: 0, type, f: 'write', key: 'x', value: 'a', time, ...extra });

/** Returns the InvalidHistoryError that parsing `text` throws. */
function parseError(text: string, model?: 'register' | 'set' | 'bank' | 'list-append'): InvalidHistoryError {
  try {
    parseHistory(text, model === undefined ? {} : { model });
  } catch (err) {
    if (err instanceof InvalidHistoryError) return err;
    throw err;
  }
  throw new Error('parseHistory accepted the history');
}

describe('parseHistory', () => {
  it('pairs each invocation with the completion of the same process', () => {
    const text = historyText([
      { process: 0, f: 'write', key: 'x', value: 'a', type: 'ok', invokeNs: 10, completeNs: 30 },
      { process: 1, f: 'read', key: 'x', type: 'ok', result: 'a', invokeNs: 20, completeNs: 40 },
    ]);
    const history = parseHistory(text, { model: 'register' });
    expect(history.events).toHaveLength(4);
    expect(history.operations.map((o) => [o.process, o.f, o.outcome, o.invokeTimeNs, o.completeTimeNs, o.completion?.value])).toEqual([
      [0, 'write', 'ok', 10, 30, 'a'],
      [1, 'read', 'ok', 20, 40, 'a'],
    ]);
  });

  it('treats an invocation without a completion as indeterminate (info, return at infinity)', () => {
    const history = parseHistory([write(0, 'invoke', 5)].join('\n'));
    expect(history.operations[0]).toMatchObject({ outcome: 'info', completion: null, completeTimeNs: null });
  });

  it('gives info completions no completion time and keeps the fail completion time', () => {
    const text = [write(0, 'invoke', 1), write(1, 'info', 2), line({ index: 2, process: 1, type: 'invoke', f: 'write', key: 'x', value: 'b', time: 3 }), line({ index: 3, process: 1, type: 'fail', f: 'write', key: 'x', value: 'b', time: 4 })].join('\n');
    const [info, fail] = parseHistory(text).operations;
    expect(info).toMatchObject({ outcome: 'info', completeTimeNs: null });
    expect(fail).toMatchObject({ outcome: 'fail', completeTimeNs: 4 });
  });

  it('skips blank lines and accepts CRLF line ends, numbering lines as in the file', () => {
    const text = `\r\n${write(0, 'invoke', 1)}\r\n\r\n${write(1, 'ok', 2)}\r\n`;
    const history = parseHistory(text);
    expect(history.events.map((e) => e.line)).toEqual([2, 4]);
  });

  it('accepts integer keys and keeps 1 and "1" apart', () => {
    const text = [line({ index: 0, process: 0, type: 'invoke', f: 'write', key: 1, value: 'a', time: 1 }), line({ index: 1, process: 0, type: 'ok', f: 'write', key: '1', value: 'a', time: 2 })].join('\n');
    expect(parseError(text)).toMatchObject({ line: 2, field: 'key' });
  });

  it('ignores Jepsen node and error fields', () => {
    expect(() => parseHistory([write(0, 'invoke', 1, { node: 'n1' }), write(1, 'fail', 2, { error: ['timeout', 3] })].join('\n'))).not.toThrow();
  });

  describe('rejects a malformed line, naming the line and the field', () => {
    it.each([
      ['text that is not JSON', '{"index": 0,', 1, null, /not valid JSON/],
      ['a JSON array', '[1, 2]', 1, null, /must be a JSON object/],
      ['a missing field', line({ index: 0, process: 0, type: 'invoke', f: 'read', key: 'x' }), 1, 'time', /is missing/],
      ['an unknown field', write(0, 'invoke', 1, { tiem: 3 }), 1, 'tiem', /not a field of the history format/],
      ['a negative time', write(0, 'invoke', -1), 1, 'time', /non-negative integer \(nanoseconds\)/],
      ['a fractional time', write(0, 'invoke', 1.5), 1, 'time', /non-negative integer/],
      ['a string process', write(0, 'invoke', 1, { process: 'nemesis' }), 1, 'process', /non-negative integer/],
      ['an unknown type', write(0, 'start', 1), 1, 'type', /"invoke", "ok", "fail", "info"/],
      ['an empty f', write(0, 'invoke', 1, { f: '' }), 1, 'f', /non-empty string/],
      ['an object key', write(0, 'invoke', 1, { key: { a: 1 } }), 1, 'key', /string, an integer or null/],
    ])('%s', (_name, text, lineNumber, field, message) => {
      const err = parseError(text);
      expect(err.line).toBe(lineNumber);
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(new RegExp(`^line ${lineNumber}: `));
      expect(err.code).toBe('INVALID_HISTORY');
    });
  });

  it('rejects an index that does not increase', () => {
    const err = parseError([write(3, 'invoke', 1), write(3, 'ok', 2)].join('\n'));
    expect(err).toMatchObject({ line: 2, field: 'index' });
    expect(err.message).toBe('line 2: field "index" must increase from line to line; 3 follows 3 (line 1)');
  });

  it('rejects a time that goes backwards', () => {
    expect(parseError([write(0, 'invoke', 5), write(1, 'ok', 4)].join('\n'))).toMatchObject({ line: 2, field: 'time' });
  });

  it('rejects a second invocation while the process has one outstanding', () => {
    const err = parseError([write(0, 'invoke', 1), write(1, 'invoke', 2)].join('\n'));
    expect(err.message).toBe('line 2: field "process" 0 invokes again while its invocation at line 1 is outstanding (one outstanding invocation per process)');
  });

  it('rejects a completion with no outstanding invocation', () => {
    expect(parseError(write(0, 'ok', 1))).toMatchObject({ line: 1, field: 'process' });
  });

  it('rejects a completion whose f or key differs from its invocation', () => {
    expect(parseError([write(0, 'invoke', 1), write(1, 'ok', 2, { f: 'read' })].join('\n'))).toMatchObject({ line: 2, field: 'f' });
    expect(parseError([write(0, 'invoke', 1), write(1, 'ok', 2, { key: 'y' })].join('\n'))).toMatchObject({ line: 2, field: 'key' });
  });

  describe('with a model, rejects values of the wrong shape', () => {
    const pair = (f: string, value: unknown, result: unknown, extra: Record<string, unknown> = {}): string =>
      [line({ index: 0, process: 0, type: 'invoke', f, key: 'x', value, time: 1, ...extra }), line({ index: 1, process: 0, type: 'ok', f, key: 'x', value: result, time: 2, ...extra })].join('\n');
    it.each([
      ['register', 'an unknown f', pair('delete', null, null), 1, 'f', /"read" or "write" or "cas" for the register model/],
      ['register', 'a write of a number', pair('write', 3, 3), 1, 'value', /string written/],
      ['register', 'a read with an argument', pair('read', 'a', 'a'), 1, 'value', /must be null on a read's invocation/],
      ['register', 'a read returning a number', pair('read', null, 7), 2, 'value', /string read or null/],
      ['register', 'a cas with one value', pair('cas', ['a'], ['a']), 1, 'value', /\[expected, new\]/],
      ['register', 'a cas with a number as new', pair('cas', ['a', 1], ['a', 1]), 1, 'value[1]', /\(new\) must be a string/],
      ['register', 'a write completing with another value', pair('write', 'a', 'b'), 2, 'value', /must be null or repeat its invocation's "a"/],
      ['register', 'no key', pair('read', null, null, { key: null }), 1, 'key', /required for the register model/],
      ['set', 'an add of a string', pair('add', 'a', 'a'), 1, 'value', /add must be an integer/],
      ['set', 'a read with a string element', pair('read', null, [1, 'b']), 2, 'value[1]', /must be an integer/],
      ['bank', 'a transfer without amount', pair('transfer', { from: 'a', to: 'b' }, null), 1, 'value.amount', /non-negative integer/],
      ['bank', 'a transfer with an extra field', pair('transfer', { from: 'a', to: 'b', amount: 1, fee: 2 }, null), 1, 'value.fee', /not a transfer field/],
      ['bank', 'a read with a string balance', pair('read', null, { a: '10' }), 2, 'value.a', /integer balance or null/],
      ['list-append', 'an unknown micro-op', pair('txn', [['w', 'x', 1]], [['w', 'x', 1]]), 1, 'value[0][0]', /"r" or "append"/],
      ['list-append', 'a read filled in on the invocation', pair('txn', [['r', 'x', [1]]], [['r', 'x', [1]]]), 1, 'value[0][2]', /must be null on the invocation/],
      ['list-append', 'an ok that changes a micro-op', pair('txn', [['append', 'x', 1]], [['append', 'x', 2]]), 2, 'value[0]', /does not repeat/],
      ['list-append', 'an ok with a missing micro-op', pair('txn', [['append', 'x', 1], ['r', 'y', null]], [['append', 'x', 1]]), 2, 'value', /has 1 micro-ops but its invocation/],
      ['list-append', 'a read of strings', pair('txn', [['r', 'x', null]], [['r', 'x', ['a']]]), 2, 'value[0][2][0]', /must be an integer/],
    ] as const)('%s: %s', (model, _name, text, lineNumber, field, message) => {
      const err = parseError(text, model);
      expect(err.line).toBe(lineNumber);
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
    });
  });
});
