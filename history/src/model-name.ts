/**
 * The consistency models `quire check` knows. Each names a workload (the shape of `f` and
 * `value`) and the checker that judges it.
 */

/** The models, in the order the help text lists them. */
export const modelNames = ['register', 'set', 'bank', 'list-append'] as const;

/** A model `quire check --model` accepts. */
export type ModelName = (typeof modelNames)[number];

/** Narrows a string to a ModelName. */
export function isModelName(name: string): name is ModelName {
  return (modelNames as readonly string[]).includes(name);
}
