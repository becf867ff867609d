import { describe, expect, it } from 'vitest';
import { describeOperation, renderValue, renderedValueCharsMax, type OperationView } from './operation-view.js';

describe('describeOperation', () => {
  it('abbreviates a huge read to its first characters and its element count', () => {
    const elements = Array.from({ length: 10_000 }, (_, i) => i);
    const view: OperationView = { index: 7, line: 8, process: 1, f: 'read', key: null, outcome: 'ok', argument: null, result: elements, invokeTimeNs: 1, completeTimeNs: 2 };
    const line = describeOperation(view);
    expect(line.length).toBeLessThan(renderedValueCharsMax + 120);
    expect(line).toContain('(10000 elements; see the history line)');
    expect(line).toContain('(line 8)');
  });

  it('renders short values whole', () => {
    expect(renderValue(['a', 'b'])).toBe('["a","b"]');
  });
});
