import { describe, expect, it } from 'vitest';
import { commandText, matchLines, normalizeLine, parseTranscript } from './transcript.js';

const readme = [
  '# Title',
  '## Before',
  '```console',
  '$ ignored',
  '```',
  '## Tour',
  'Some prose.',
  '```console',
  '$ make up',
  '...                # first run: installs',
  'Quire is ready in 2.8 s. Router: 127.0.0.1:40833',
  '```',
  '```console',
  '$ npx quire put hello world',
  'OK version 1',
  '$ npx quire get nobody; echo $?   # a comment',
  'quire: key "nobody" not found',
  '2',
  '$ npx quire status',
  '',
  '```',
  '```ts example.mjs',
  "import { QuireClient } from '@quire/client';",
  '```',
  '```ts',
  'const notAFile = 1;',
  '```',
  '```console',
  '^C',
  'quire dev: SIGINT: stopping the cluster',
  '```',
  '## After',
  '```console',
  '$ also ignored',
  '```',
].join('\n');

describe('parseTranscript', () => {
  it('reads commands, their output, Ctrl-C and named files between two headings, with README line numbers', () => {
    expect(parseTranscript(readme, { from: 'Tour', to: 'After' })).toEqual([
      { kind: 'command', line: 9, command: 'make up', expected: ['...                # first run: installs', 'Quire is ready in 2.8 s. Router: 127.0.0.1:40833'] },
      { kind: 'command', line: 14, command: 'npx quire put hello world', expected: ['OK version 1'] },
      { kind: 'command', line: 16, command: 'npx quire get nobody; echo $?   # a comment', expected: ['quire: key "nobody" not found', '2'] },
      { kind: 'command', line: 19, command: 'npx quire status', expected: [] },
      { kind: 'file', line: 22, name: 'example.mjs', content: "import { QuireClient } from '@quire/client';\n" },
      { kind: 'interrupt', line: 29, expected: ['quire dev: SIGINT: stopping the cluster'] },
    ]);
  });

  it('refuses a range whose headings are missing, and output before any command', () => {
    expect(() => parseTranscript(readme, { from: 'Nowhere' })).toThrow('The README has no heading "Nowhere"');
    expect(() => parseTranscript(readme, { from: 'Tour', to: 'Nowhere' })).toThrow('no heading "Nowhere" after "Tour"');
    expect(() => parseTranscript('## T\n```console\nstray\n```\n', { from: 'T' })).toThrow('Line 3: output "stray" before any command');
  });
});

describe('matchLines', () => {
  it('accepts the same lines after normalizing addresses, durations and timings', () => {
    expect(matchLines(['Quire is ready in 2.8 s. Router: 127.0.0.1:40833'], ['Quire is ready in 3.1 s. Router: 127.0.0.1:35001'])).toEqual({ ok: true });
    expect(matchLines(['served at index 2, 1840 ms since'], ['served at index 2, 12 ms since'])).toEqual({ ok: true });
    expect(matchLines(['added 14 packages in 2s'], ['added 14 packages in 850ms'])).toEqual({ ok: true });
  });

  it('fails on a changed word, a missing line or an extra line, and says what differs', () => {
    const changed = matchLines(['OK version 1'], ['OK version 2']);
    expect(changed.ok).toBe(false);
    expect(!changed.ok && changed.reason).toContain('no line "OK version 1" where the README has it');
    expect(matchLines(['a', 'b'], ['a']).ok).toBe(false);
    expect(matchLines(['a'], ['a', 'b']).ok).toBe(false);
    expect(matchLines([], ['something']).ok).toBe(false);
  });

  it('lets ... stand for any number of lines, none included', () => {
    expect(matchLines(['...', 'ready'], ['npm ci', 'build', 'ready'])).toEqual({ ok: true });
    expect(matchLines(['...  # comment', 'ready'], ['ready'])).toEqual({ ok: true });
    expect(matchLines(['a', '...', 'z'], ['a', 'z'])).toEqual({ ok: true });
    expect(matchLines(['a', '...', 'z'], ['a', 'x', 'y'])).toMatchObject({ ok: false });
  });

  it('ignores blank lines around the output but not inside it', () => {
    expect(matchLines(['x'], ['', 'x', '', ''])).toEqual({ ok: true });
    expect(matchLines(['x', 'y'], ['x', '', 'y']).ok).toBe(false);
  });
});

describe('normalizeLine and commandText', () => {
  it('normalizes only what varies', () => {
    expect(normalizeLine('Router: 127.0.0.1:40833   ')).toBe('Router: 127.0.0.1:PORT');
    expect(normalizeLine('version 12 of 3 s')).toBe('version 12 of 3 s');
  });

  it('drops a trailing comment from a command but not a # inside quotes', () => {
    expect(commandText('npx quire status   # nodes')).toBe('npx quire status');
    expect(commandText("echo 'a # b'")).toBe("echo 'a # b'");
    expect(commandText("npx quire status   # each partition's leader")).toBe('npx quire status');
    expect(commandText('echo "it\'s # not a comment" # but this is')).toBe('echo "it\'s # not a comment"');
    expect(commandText('echo a#b')).toBe('echo a#b');
  });
});
