import { databaseError, errorMessage } from '../errors.ts';
import type { Database, SqlArgs, SqlFunction } from './port.ts';

/** Runs one parameterised statement; each driver (postgres.js, PGlite) supplies its own. */
export type QueryFn = (text: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

const ARG_NAME = /^p_[a-z][a-z0-9_]*$/;

/** Builds `select * from public.fn(p_a => $1, …)`: names are checked, values always bound. */
export function functionCall(fn: SqlFunction, args: SqlArgs): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const named: string[] = [];
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined) continue; // leave it to the SQL default
    if (!ARG_NAME.test(name)) throw new TypeError(`invalid SQL argument name: ${name}`);
    params.push(value);
    named.push(`${name} => $${params.length}`);
  }
  return { text: `select * from public.${fn}(${named.join(', ')})`, params };
}

export function createSqlDatabase(query: QueryFn): Database {
  return {
    async call<Row>(fn: SqlFunction, args: SqlArgs): Promise<Row[]> {
      const { text, params } = functionCall(fn, args);
      try {
        return (await query(text, params)) as Row[];
      } catch (error) {
        throw databaseError(`${fn} failed: ${errorMessage(error)}`, error);
      }
    },
  };
}
