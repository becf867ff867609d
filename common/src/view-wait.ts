/**
 * Waiting on the metadata view: the one place that subscribes to a MetadataView with a timeout
 * (it lives outside metadata/, whose core modules have no timers).
 */
import type { MetadataView } from './metadata/metadata-view.js';

/**
 * Resolves true once `done(view)` holds — checked now and at every view change — or false after
 * `timeoutMs`. The subscription and the timer end either way.
 */
export function waitForView(view: MetadataView, done: (view: MetadataView) => boolean, timeoutMs: number): Promise<boolean> {
  if (done(view)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve(false);
    }, timeoutMs);
    const unsubscribe = view.subscribe((v) => {
      if (!done(v)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(true);
    });
  });
}
