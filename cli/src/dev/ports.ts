/**
 * Port allocation for local clusters: free ports on 127.0.0.1, remembered per data
 * directory so a restarted cluster comes back on the same ports when they are still free.
 */
import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';

/** Resolves whether `port` can be bound on 127.0.0.1 right now. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Returns a port the kernel considers free on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Named ports persisted in a JSON file. */
export class PortBook {
  private readonly ports: Record<string, number>;
  private readonly taken = new Set<number>();

  constructor(private readonly path: string) {
    let loaded: Record<string, number> = {};
    try {
      loaded = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>;
    } catch {
      loaded = {};
    }
    this.ports = loaded;
  }

  /** Returns the port remembered for `name` if it is free, else a new free port. */
  async port(name: string, preferred = 0): Promise<number> {
    const candidates = [preferred, this.ports[name] ?? 0].filter((p) => p > 0);
    for (const p of candidates) {
      if (!this.taken.has(p) && (await isPortFree(p))) return this.take(name, p);
    }
    for (;;) {
      const p = await freePort();
      if (!this.taken.has(p)) return this.take(name, p);
    }
  }

  private take(name: string, port: number): number {
    this.taken.add(port);
    this.ports[name] = port;
    return port;
  }

  /** Writes the ports back to disk. */
  save(): void {
    writeFileSync(this.path, `${JSON.stringify(this.ports, null, 2)}\n`);
  }
}
