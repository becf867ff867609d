import { describe, expect, it } from 'vitest';
import { formatOptionsHelp, parseOptions } from '@quire/common';
import { failpointsAdminOption, failpointsOption, validateFailpoints } from './server-options.js';

describe('failpoint options', () => {
  const spec = { failpoints: failpointsOption, failpointsAdmin: failpointsAdminOption };

  it('reads --failpoints and --failpoints-admin from flags or the environment, off by default', () => {
    expect(parseOptions(spec, [], {})).toEqual({ failpointsAdmin: false });
    expect(parseOptions(spec, [], { QUIRE_FAILPOINTS: 'router.forward.beforeSend=crash', QUIRE_FAILPOINTS_ADMIN: 'true' })).toEqual({
      failpoints: 'router.forward.beforeSend=crash',
      failpointsAdmin: true,
    });
    expect(parseOptions(spec, ['--failpoints', 'a=b', '--failpoints-admin'], {})).toEqual({ failpoints: 'a=b', failpointsAdmin: true });
  });

  it('validates the spec for the component with a ConfigError naming the option', () => {
    expect(() => validateFailpoints('router', '')).not.toThrow();
    expect(() => validateFailpoints('router', 'router.forward.beforeSend=sleep(10)')).not.toThrow();
    expect(() => validateFailpoints('router', 'router.forward.beforeSend=sleep')).toThrow(/^--failpoints \(or \$QUIRE_FAILPOINTS\) is invalid: Failpoint router.forward.beforeSend: sleep needs/);
  });

  it('shows both options in --help', () => {
    const help = formatOptionsHelp(spec);
    expect(help).toContain('--failpoints VALUE');
    expect(help).toContain('[env: QUIRE_FAILPOINTS]');
    expect(help).toContain('--failpoints-admin');
    expect(help).toContain('[default: false] [env: QUIRE_FAILPOINTS_ADMIN]');
  });
});
