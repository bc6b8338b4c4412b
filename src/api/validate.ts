import { z } from 'zod';
import { zodProblem } from './problem';

/** Parses with a zod schema or throws a 400 problem naming each bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params' = 'body'): z.infer<S> {
  const result = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (!result.success) throw zodProblem(result.error, where === 'body' ? [] : [where]);
  return result.data;
}
