import { describe, expect, it } from 'vitest';
import { isQuireError } from '@quire/common';
import { QuireClient } from './client.js';
import { routerTargetsMax, routerTargetsOf, type RouterTargetOptions } from './router-targets.js';

function refusal(options: RouterTargetOptions): { message: string; field: string | undefined } {
  try {
    routerTargetsOf(options);
  } catch (err) {
    if (!isQuireError(err, 'INVALID_ARGUMENT')) throw err;
    return { message: err.message, field: err.details.field };
  }
  throw new Error(`Expected ${JSON.stringify(options)} to be refused`);
}

describe('routerTargetsOf', () => {
  it.each<[string, RouterTargetOptions, string[]]>([
    ['one router, the shorthand', { router: '127.0.0.1:7000' }, ['127.0.0.1:7000']],
    ['a list, in order', { routers: ['b.example:7001', 'a.example:7000'] }, ['b.example:7001', 'a.example:7000']],
    ['a DNS name', { routers: ['quire-router.quire.svc.cluster.local:7000'] }, ['quire-router.quire.svc.cluster.local:7000']],
    ['an IPv6 address', { routers: ['[::1]:7000'] }, ['[::1]:7000']],
    ['gRPC target names', { routers: ['dns:///routers.example:7000', 'dns:routers2.example:7000', 'dns://10.0.0.2:53/r.example:7000', 'ipv4:127.0.0.1:7000,127.0.0.2:7000', 'ipv6:[::1]:7000'] }, ['dns:///routers.example:7000', 'dns:routers2.example:7000', 'dns://10.0.0.2:53/r.example:7000', 'ipv4:127.0.0.1:7000,127.0.0.2:7000', 'ipv6:[::1]:7000']],
    ['the largest port', { router: 'localhost:65535' }, ['localhost:65535']],
  ])('accepts %s', (_name, options, expected) => {
    expect(routerTargetsOf(options)).toEqual(expected);
  });

  it.each<[string, RouterTargetOptions, string, RegExp]>([
    ['neither', {}, 'router', /at least one router/],
    ['an empty list', { routers: [] }, 'routers', /at least one router/],
    ['both', { router: 'a:1', routers: ['b:2'] }, 'routers', /not both/],
    ['no port', { routers: ['router.example'] }, 'routers', /"router.example" is not host:port/],
    ['port 0', { router: 'localhost:0' }, 'router', /"localhost:0"/],
    ['a port above 65535', { routers: ['a:1', 'b:65536'] }, 'routers', /"b:65536"/],
    ['an empty entry', { routers: ['a:1', ''] }, 'routers', /""/],
    ['a comma-separated string in one entry', { routers: ['a:1,b:2'] }, 'routers', /"a:1,b:2"/],
    ['a URL', { routers: ['http://a:1'] }, 'routers', /"http:\/\/a:1"/],
    ['an ipv4: target without ports', { routers: ['ipv4:127.0.0.1'] }, 'routers', /ipv4:127.0.0.1/],
    ['a dns:// target without a name', { routers: ['dns://resolver'] }, 'routers', /dns:\/\/resolver/],
    ['a repeated entry', { routers: ['a:1', 'a:1'] }, 'routers', /names a:1 twice/],
    ['too many', { routers: Array.from({ length: routerTargetsMax + 1 }, (_, i) => `r${i}:7000`) }, 'routers', /at most 32/],
    ['a non-string entry', { routers: [7000 as unknown as string] }, 'routers', /7000/],
  ])('refuses %s with INVALID_ARGUMENT naming the field', (_name, options, field, message) => {
    const r = refusal(options);
    expect(r.field).toBe(field);
    expect(r.message).toMatch(message);
  });

  it('is what the client constructor checks, before connecting anywhere', () => {
    expect(() => new QuireClient({ routers: [] })).toThrow(/routers must name at least one router/);
    const client = new QuireClient({ routers: ['127.0.0.1:1', '127.0.0.1:2'], connectTimeoutMs: 100 });
    try {
      expect(client.routerTargets).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
      expect(client.routerTargets).toContain(client.activeRouter);
    } finally {
      client.close();
    }
  });
});
