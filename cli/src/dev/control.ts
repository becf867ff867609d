/**
 * The control socket of a running `quire dev` (<data-dir>/dev.sock): how `quire dev node add`
 * and `quire dev node remove` reshape the cluster that process supervises. HTTP over a Unix
 * socket, local only (the socket file is the permission). Each request's answer is streamed as
 * text lines (progress), the last one `OK …` or `ERROR …`.
 *
 *   POST   /nodes?zone=Z    start one more data node; answers once it is registered
 *   DELETE /nodes/<id>      drain the node, wait until it holds no replica, then stop it for good
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';

/** What the control socket does (implemented by `quire dev` over its LocalCluster). */
export interface DevControlHandlers {
  addNode(zone: string | undefined, progress: (line: string) => void): Promise<string>;
  removeNode(id: string, progress: (line: string) => void): Promise<string>;
}

/** Serves the control socket at `path` (an old socket file there is replaced). */
export async function serveDevControl(path: string, handlers: DevControlHandlers): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    const progress = (line: string): void => void res.write(`${line}\n`);
    const url = new URL(req.url ?? '/', 'http://dev');
    let work: Promise<string>;
    if (req.method === 'POST' && url.pathname === '/nodes') {
      const zone = url.searchParams.get('zone');
      work = handlers.addNode(zone === null || zone === '' ? undefined : zone, progress);
    } else if (req.method === 'DELETE' && url.pathname.startsWith('/nodes/')) {
      work = handlers.removeNode(decodeURIComponent(url.pathname.slice('/nodes/'.length)), progress);
    } else {
      work = Promise.reject(new Error(`unknown request ${req.method ?? ''} ${url.pathname}`));
    }
    work.then(
      (line) => res.end(`OK ${line}\n`),
      (err: unknown) => res.end(`ERROR ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return server;
}

/**
 * Sends one request to a running `quire dev` and passes each answer line to `onLine`; resolves
 * with the last line. Rejects when no `quire dev` listens at `path`.
 */
export function callDevControl(path: string, method: 'POST' | 'DELETE', urlPath: string, onLine: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, method, path: urlPath }, (res) => {
      let buffered = '';
      let last = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          last = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          onLine(last);
        }
      });
      res.on('end', () => resolve(buffered === '' ? last : buffered));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error(`no quire dev is running with this --data-dir (nothing listens on ${path})`) : err),
    );
    req.end();
  });
}
